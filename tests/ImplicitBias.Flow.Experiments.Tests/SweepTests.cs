using System.Text.Json.Nodes;
using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.Outputs;
using ImplicitBias.Flow.Experiments.Sweeps;

namespace ImplicitBias.Flow.Experiments.Tests;

/// <summary>Sweep files: grid expansion, η0 per activation, one-line errors naming the key, local runs, resuming after a kill.</summary>
public sealed class SweepTests : IDisposable
{
    private const string Tiny = """
    {
      "Name": "tiny-sweep",
      "Data": { "Kind": "gaussian", "Samples": 16, "Dimension": 4, "Seed": 3 },
      "Model": { "Depth": 2, "Width": 4, "Activation": "relu-q", "Q": 2, "InitScale": 0.5 },
      "Optimizers": [
        { "Name": "ngd", "Eta0ByActivation": { "relu-q": 1.5, "relu": 1.0 }, "Power": 0.8 },
        { "Name": "adam", "Eta0ByActivation": { "relu-q": 0.05, "relu": 0.1 }, "Power": 0.8 }
      ],
      "Seeds": [1, 2],
      "Sweep": { "Model:Activation": ["relu-q", "relu"], "Solver:Method": ["auto", "discrete"] },
      "Solver": { "Backend": "cpu" },
      "Stop": { "TargetLogLoss": -4, "MaxTime": 100 },
      "Save": { "PointsPerDecade": 4 },
      "Outputs": { "Plots": false }
    }
    """;

    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-sweep-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string json)
    {
        string path = Path.Combine(_dir, $"sweep{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    private static JsonNode Summary(string dir) => JsonOutput.Read(Path.Combine(dir, "summary.json"));

    [Fact]
    public void Grid_IsAxesTimesOptimizersTimesSeeds_NamedByCoordinates_WithEta0PerActivation()
    {
        SweepPlan plan = SweepPlan.Load(Write(Tiny));
        Assert.Equal(2 * 2 * 2 * 2, plan.Points.Count);
        Assert.Equal(plan.Points.Count, plan.Points.Select(p => p.Folder).Distinct().Count());
        SweepPoint p = Assert.Single(plan.Points, p => p.Folder == "act=relu/method=discrete/adam/seed2");
        Assert.Equal("relu", p.Settings.Model.Activation);
        Assert.Equal("discrete", p.Settings.Solver.Method);
        Assert.Equal(0.1, Assert.Single(p.Settings.Optimizers).Eta0);
        Assert.Equal([2UL], p.Settings.Seeds);
        Assert.Equal(1.5, plan.Points.Single(q => q.Folder == "act=relu-q/method=auto/ngd/seed1").Settings.Optimizers[0].Eta0);
        Assert.Equal(Enumerable.Range(0, plan.Points.Count), plan.Points.Select(q => q.Index));
    }

    [Fact]
    public void Overrides_ApplyBeforeExpansion()
    {
        SweepPlan plan = SweepPlan.Load(Write(Tiny), ["--Seeds=5", "--Sweep:Solver:Method=auto", "--Model:Width=6"]);
        Assert.Equal(2 * 2, plan.Points.Count);
        Assert.All(plan.Points, p => Assert.Equal(6, p.Settings.Model.Width));
        Assert.All(plan.Points, p => Assert.EndsWith("seed5", p.Folder, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("\"Sweep\": { \"Model:Width\": [] }", "Sweep:Model:Width")]
    [InlineData("\"Sweep\": { \"Name\": [\"a\", \"b\"] }", "Sweep:Name")]
    [InlineData("\"Sweep\": { \"Sweep\": [1] }", "Sweep:Sweep")]
    [InlineData("\"Sweep\": { \"Seeds\": [1, 2] }", "Sweep:Seeds")]
    [InlineData("\"Sweep\": { \"Model:Widht\": [10, 20] }", "Sweep:Model:Widht")]
    [InlineData("\"Sweep\": { \"Model:Width\": [10, -1] }", "Sweep:Model:Width")]
    [InlineData("\"Sweep\": { \"Model:Activation\": [\"relu\", \"identity\"] }", "Optimizers:0:Eta0ByActivation:identity")]
    [InlineData("\"Sweep\": { \"Model:Width\": 10 }", "Sweep:Model:Width")]
    public void BadSweepFiles_AreOneLineErrorsNamingTheKey(string sweep, string key)
    {
        string json = Tiny[..Tiny.IndexOf("\"Sweep\"", StringComparison.Ordinal)] + sweep + Tiny[Tiny.IndexOf(",\n  \"Solver\"", StringComparison.Ordinal)..];
        string path = Write(json);
        var e = Assert.Throws<ExperimentException>(() => SweepPlan.Load(path));
        Assert.Contains(key, e.Message, StringComparison.Ordinal);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("\n", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void VaryingTheActivation_NeedsAnEta0PerActivation()
    {
        string json = Tiny.Replace("\"Eta0ByActivation\": { \"relu-q\": 0.05, \"relu\": 0.1 }, ", string.Empty, StringComparison.Ordinal);
        var e = Assert.Throws<ExperimentException>(() => SweepPlan.Load(Write(json)));
        Assert.Contains("Optimizers:1:Eta0ByActivation", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_WritesEveryRunAsIbflowRunDoes_AndIndexesThem()
    {
        string path = Write(Tiny);
        SweepPlan plan = SweepPlan.Load(path, ["--Sweep:Solver:Method=auto", "--Seeds=1"]);
        string outDir = Path.Combine(_dir, "out");
        IReadOnlyList<SweepRunResult> results = new SweepRunner(plan, outDir, TextWriter.Null) { Jobs = 2 }.Run();
        Assert.Equal(4, results.Count);
        Assert.All(results, r => Assert.True(r.Status is "target-reached" or "max-time", r.Status));
        foreach (SweepPoint p in plan.Points)
        {
            string dir = Path.Combine(outDir, p.Folder);
            Assert.True(Summary(dir)["finished"]!.GetValue<bool>());
            Assert.True(File.Exists(Path.Combine(dir, "trajectory.csv")));

            // config.json reruns that run alone: one optimizer, one seed, the point's coordinates.
            ExperimentSettings again = ExperimentLoader.Load(Path.Combine(dir, "config.json"), useEnvironment: false);
            Assert.Equal(p.Settings.Model.Activation, again.Model.Activation);
            Assert.Equal(p.Settings.Optimizers[0].Eta0, Assert.Single(again.Optimizers).Eta0);
            Assert.Equal([p.Seed], again.Seeds);
        }

        Assert.Equal(plan.Points.Select(p => p.Folder), File.ReadAllLines(Path.Combine(outDir, SweepRunner.TasksFile)));
        Assert.Equal(4, JsonOutput.Read(Path.Combine(outDir, SweepRunner.IndexFile))["runs"]!.AsArray().Count);
    }

    [Fact]
    public void PlotsOfEveryGridPoint_ShareTheSweepsOnePlotlyScript()
    {
        SweepPlan plan = SweepPlan.Load(Write(Tiny), ["--Sweep:Solver:Method=discrete", "--Seeds=1", "--Outputs:Plots=true"]);
        string outDir = Path.Combine(_dir, "out");
        new SweepRunner(plan, outDir, TextWriter.Null) { Jobs = 2 }.Run();
        string shared = Path.Combine(outDir, "plots", "plotly.min.js");
        Assert.Equal([shared], Directory.GetFiles(outDir, "plotly.min.js", SearchOption.AllDirectories));
        foreach (SweepPoint p in plan.Points)
        {
            // Each run's pages load the shared script by a relative path that resolves to it (so the sweep folder can move).
            string index = Path.Combine(outDir, p.Folder, "plots", "index.html");
            string src = System.Text.RegularExpressions.Regex.Match(File.ReadAllText(index), "<script src=\"([^\"]+plotly\\.min\\.js)\"").Groups[1].Value;
            Assert.False(Path.IsPathRooted(src), src);
            Assert.Equal(Path.GetFullPath(shared), Path.GetFullPath(Path.Combine(Path.GetDirectoryName(index)!, src)));
        }
    }

    [Fact]
    public void KilledMidway_RerunSkipsFinishedRuns_AndFinishesTheOthers()
    {
        SweepPlan plan = SweepPlan.Load(Write(Tiny), ["--Sweep:Model:Activation=relu-q"]);
        string outDir = Path.Combine(_dir, "killed");
        using var cancellation = new CancellationTokenSource();
        var first = new SweepRunner(plan, outDir, TextWriter.Null) { Jobs = 1, RunEnded = _ => cancellation.Cancel() };
        IReadOnlyList<SweepRunResult> before = first.Run(cancellation.Token);
        SweepRunResult done = Assert.Single(before);
        Assert.True(done.Status is "target-reached" or "max-time", done.Status);
        Assert.Equal(0, done.Point.Index);
        Assert.All(plan.Points.Skip(1), p => Assert.False(File.Exists(Path.Combine(outDir, p.Folder, "summary.json"))));

        string doneDir = Path.Combine(outDir, done.Point.Folder);
        Dictionary<string, (DateTime, byte[])> files = Directory.GetFiles(doneDir, "*", SearchOption.AllDirectories)
            .ToDictionary(f => f, f => (File.GetLastWriteTimeUtc(f), File.ReadAllBytes(f)));

        var ended = new List<string>();
        IReadOnlyList<SweepRunResult> after = new SweepRunner(plan, outDir, TextWriter.Null) { Jobs = 1, RunEnded = r => ended.Add(r.Point.Folder) }.Run();
        Assert.Equal(plan.Points.Count, after.Count);
        Assert.Equal("skipped", after.Single(r => r.Point.Folder == done.Point.Folder).Status);
        Assert.DoesNotContain(done.Point.Folder, ended);
        Assert.Equal(plan.Points.Count - 1, ended.Count);
        Assert.All(plan.Points, p => Assert.True(Summary(Path.Combine(outDir, p.Folder))["finished"]!.GetValue<bool>()));
        foreach ((string f, (DateTime time, byte[] bytes)) in files)
        {
            Assert.Equal(time, File.GetLastWriteTimeUtc(f));
            Assert.Equal(bytes, File.ReadAllBytes(f));
        }
    }

    [Fact]
    public void AnotherSweepIntoTheSameFolder_IsRefused()
    {
        string outDir = Path.Combine(_dir, "mixed");
        new SweepRunner(SweepPlan.Load(Write(Tiny), ["--Sweep:Solver:Method=auto", "--Sweep:Model:Activation=relu"]), outDir, TextWriter.Null).Prepare();
        SweepPlan other = SweepPlan.Load(Write(Tiny), ["--Sweep:Solver:Method=auto", "--Sweep:Model:Activation=relu", "--Model:InitScale=0.25"]);
        var e = Assert.Throws<ExperimentException>(() => new SweepRunner(other, outDir, TextWriter.Null).Run());
        Assert.Contains("config.json", e.Message, StringComparison.Ordinal);
    }
}
