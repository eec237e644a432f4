using System.Text.RegularExpressions;
using System.Text.Json.Nodes;
using ImplicitBias.Flow.Analysis.Observers;
using ImplicitBias.Flow.Core.IO;
using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.Outputs;
using ImplicitBias.Flow.Experiments.Running;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Networks;
using ImplicitBias.Flow.Solvers;

namespace ImplicitBias.Flow.Experiments.Tests;

public sealed class ExperimentRunnerTests : IDisposable
{
    private const string Tiny = """
    {
      "Name": "tiny",
      "Data": { "Kind": "gaussian", "Samples": 16, "Dimension": 4, "Seed": 3 },
      "Model": { "Depth": 2, "Width": 10, "Activation": "relu-q", "Q": 2, "InitScale": 0.5, "Seed": 2 },
      "Optimizer": { "Name": "ngd", "Eta0": 1.0, "Power": 0.8 },
      "Solver": { "Backend": "cpu" },
      "Stop": { "TargetLogLoss": -20 },
      "Save": { "PointsPerDecade": 5, "Snapshots": [1] },
      "Outputs": { "Plots": false }
    }
    """;

    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-run-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Experiment(string json)
    {
        string path = Path.Combine(_dir, "exp.json");
        File.WriteAllText(path, json);
        return path;
    }

    private static string Message(string runDir) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(runDir, "summary.json")))!["message"]?.GetValue<string>() ?? "(no message)";

    private static IReadOnlyList<RunOutcome> Run(ExperimentSettings s, string outDir, CancellationToken token = default) =>
        new ExperimentRunner(s, outDir, TextWriter.Null, interactive: false).Run(token);

    [Fact]
    public void Outputs_ReadBack_MatchTheInMemorySolve()
    {
        ExperimentSettings s = ExperimentLoader.Load(Experiment(Tiny), [], useEnvironment: false);
        string outDir = Path.Combine(_dir, "out");
        RunOutcome outcome = Assert.Single(Run(s, outDir));
        Assert.Equal("target-reached", outcome.Status);

        // The same flow solved here, directly.
        Dataset data = ExperimentBuilder.Data(s);
        FullyConnectedNetwork network = ExperimentBuilder.Network(s.Model, data.Dimension);
        double[] theta0 = ExperimentBuilder.InitialTheta(s, network, 2);
        var flow = new OptimizerFlow(new ModelOracle(new LossEvaluator(network, data, ExperimentBuilder.Loss(s))), ExperimentBuilder.Parts(s.Optimizers[0], network), 0.8, 1.0, new FlowTolerances(s.Solver.RelTol, s.Solver.AbsTol, s.Solver.BlockScale));
        OdeResult direct = FlowSolver.Solve(flow, theta0, new FlowSolveOptions { TargetLogLoss = -20, SaveAt = SaveAt.Nothing });
        double[] theta = flow.Theta(direct.FinalState).ToArray();

        double[] saved = Npy.ReadFile(Path.Combine(outDir, "theta_final.npy")).Data;
        Assert.Equal(theta.Length, saved.Length);
        for (int i = 0; i < theta.Length; i++)
        {
            Assert.Equal(theta[i], saved[i], 1e-10 * Math.Max(1, Math.Abs(theta[i])));
        }

        Assert.Equal(theta0, Npy.ReadFile(Path.Combine(outDir, "theta_initial.npy")).Data);
        Assert.True(File.Exists(Path.Combine(outDir, "theta_t1.npy")));

        CsvTable table = CsvTable.Read(Path.Combine(outDir, "trajectory.csv"));
        Assert.Equal(0.0, table.Column("t")[0]);
        Assert.Equal(direct.FinalTime, table.Column("t")[^1], 1e-9 * direct.FinalTime);
        // The event is located on σ and confirmed on log L(θ): the model's loss at the end is at or below the target
        // (by no more than the integration error, ~rtol·|log L|), and σ there was re-anchored to it.
        Assert.InRange(table.Column("logLoss")[^1], -20 - 1e-4, -20);
        Assert.Equal(table.Column("logLoss")[^1], table.Column("sigma")[^1]);
        Assert.Equal(direct.RhsEvaluations, table.Column("rhsEvaluations")[^1]);
        Assert.True(table.Has("hardMargin_l2") && table.Has("alignment_own") && table.Has("cosineToLast"));

        JsonNode summary = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "summary.json")))!;
        Assert.Equal("target-reached", summary["status"]!.GetValue<string>());
        Assert.Equal(direct.AcceptedSteps, summary["stats"]!["acceptedSteps"]!.GetValue<long>());
        Assert.Equal(direct.RhsEvaluations, summary["stats"]!["rhsEvaluations"]!.GetValue<long>());

        // The rejections by the block with the largest share of the error, named as the flow's layout names them.
        JsonObject byBlock = summary["stats"]!["rejectedByBlock"]!.AsObject();
        Assert.Equal(flow.Layout.Blocks.Select(b => b.Name), byBlock.Select(p => p.Key));
        Assert.Equal(direct.RejectedByBlock, byBlock.Select(p => p.Value!.GetValue<long>()));
        Assert.Equal(direct.RejectedSteps, direct.RejectedByBlock.Sum());

        // The tolerances each block was judged by, as the flow's layout holds them.
        JsonObject tolerances = summary["tolerances"]!.AsObject();
        Assert.Equal(flow.Layout.Blocks.Select(b => b.Name), tolerances.Select(p => p.Key));
        Assert.Equal(flow.Layout.Blocks.Select(b => b.AbsTol), tolerances.Select(p => p.Value!["atol"]!.GetValue<double>()));
        Assert.Equal(flow.Layout.Blocks.Select(b => b.RelTol), tolerances.Select(p => p.Value!["rtol"]!.GetValue<double>()));
        Assert.Equal(flow.Layout.Blocks.Select(b => b.ScaledAbsTol), tolerances.Select(p => p.Value!["blockScale"]!.GetValue<double>()));

        // The coordinates that rejected the most steps (at most 10), named by parameter, most first.
        JsonArray byCoordinate = summary["stats"]!["rejectedByCoordinate"]!.AsArray();
        long[] counts = [.. byCoordinate.Select(c => c!["count"]!.GetValue<long>())];
        Assert.Equal(direct.RejectedByCoordinate.Values.OrderDescending().Take(10), counts);
        Assert.All(byCoordinate, c => Assert.Matches(@"^(W1\[\d+,\d+\]|u\[\d+\]|logL|(m|v):.*|logscale:.*)$", c!["coordinate"]!.GetValue<string>()));
        Assert.Equal(table.Column("hardMargin_l2")[^1], summary["final"]!["margins"]!["l2"]!.GetValue<double>());
        Assert.Equal("cpu", summary["backend"]!["name"]!.GetValue<string>());
    }

    /// <summary>
    /// Solver:Backend = ilgpu-cpu solves with the state in device memory (DeviceFlowSolver, observers fed host copies at
    /// the saves) and ends within the solver tolerance of the managed CPU run; the summary says where the state lived.
    /// </summary>
    [Fact]
    public void IlgpuCpuBackend_SolvesOnTheDevice_AndMatchesTheCpuRun()
    {
        string[] shortRun = ["--Stop:TargetLogLoss=-4", "--Save:Snapshots:0=0.5"];
        ExperimentSettings cpu = ExperimentLoader.Load(Experiment(Tiny), shortRun, useEnvironment: false);
        ExperimentSettings device = ExperimentLoader.Load(Experiment(Tiny), [.. shortRun, "--Solver:Backend=ilgpu-cpu"], useEnvironment: false);
        string cpuDir = Path.Combine(_dir, "cpu"), deviceDir = Path.Combine(_dir, "device");
        RunOutcome cpuOutcome = Assert.Single(Run(cpu, cpuDir));
        RunOutcome deviceOutcome = Assert.Single(Run(device, deviceDir));

        // On a failure, say why (the summary's message): this test once saw a run end "failed" on the loaded machine.
        Assert.True(cpuOutcome.Status == "target-reached", $"cpu run: {cpuOutcome.Status}: {Message(cpuDir)}");
        Assert.True(deviceOutcome.Status == "target-reached", $"ilgpu-cpu run: {deviceOutcome.Status}: {Message(deviceDir)}");
        Assert.Equal(cpuOutcome.FinalTime, deviceOutcome.FinalTime, 1e-6 * cpuOutcome.FinalTime);
        double[] a = Npy.ReadFile(Path.Combine(cpuDir, "theta_final.npy")).Data, b = Npy.ReadFile(Path.Combine(deviceDir, "theta_final.npy")).Data;
        for (int i = 0; i < a.Length; i++)
        {
            Assert.Equal(a[i], b[i], 1e-6 * Math.Max(1, Math.Abs(a[i])));
        }

        CsvTable cpuTable = CsvTable.Read(Path.Combine(cpuDir, "trajectory.csv")), deviceTable = CsvTable.Read(Path.Combine(deviceDir, "trajectory.csv"));
        Assert.Equal(cpuTable.Column("t"), deviceTable.Column("t"), (x, y) => Math.Abs(x - y) <= 1e-6 * Math.Max(1, Math.Abs(x)));
        Assert.Equal(cpuTable.Column("hardMargin_l2")[^1], deviceTable.Column("hardMargin_l2")[^1], 1e-6);
        Assert.True(File.Exists(Path.Combine(deviceDir, "theta_t0.5.npy")));

        JsonNode cpuSummary = JsonNode.Parse(File.ReadAllText(Path.Combine(cpuDir, "summary.json")))!;
        JsonNode deviceSummary = JsonNode.Parse(File.ReadAllText(Path.Combine(deviceDir, "summary.json")))!;
        Assert.Equal("host", cpuSummary["backend"]!["state"]!.GetValue<string>());
        Assert.Equal("ilgpu-cpu", deviceSummary["backend"]!["name"]!.GetValue<string>());
        Assert.Equal("device", deviceSummary["backend"]!["state"]!.GetValue<string>());
        // The device's gradient sums with atomics, so its rounding varies from call to call (and differs from the host's):
        // a step whose error estimate falls on the acceptance boundary may go either way, once in a while (seen once in
        // many runs of the whole suite on the loaded 2-core machine).
        Assert.InRange(deviceSummary["stats"]!["acceptedSteps"]!.GetValue<long>() - cpuSummary["stats"]!["acceptedSteps"]!.GetValue<long>(), -2, 2);

        // The attribution of rejections runs the device's own reduction with masked tolerances: the same blocks.
        JsonObject cpuRejected = cpuSummary["stats"]!["rejectedByBlock"]!.AsObject(), deviceRejected = deviceSummary["stats"]!["rejectedByBlock"]!.AsObject();
        Assert.Equal(cpuRejected.Select(p => p.Key), deviceRejected.Select(p => p.Key));
        foreach ((string block, JsonNode? count) in cpuRejected)
        {
            Assert.InRange(deviceRejected[block]!.GetValue<long>() - count!.GetValue<long>(), -2, 2);
        }
    }

    [Fact]
    public void CompositeWithOneOptimizerOnTwoBlocks_NamesItsRejectionsApart()
    {
        // Momentum on both parameter blocks gives two state blocks named m:momentum; summary.json keeps both.
        string json = Tiny.Replace(
            "\"Optimizer\": { \"Name\": \"ngd\", \"Eta0\": 1.0, \"Power\": 0.8 },",
            "\"Optimizer\": { \"Name\": \"momentum\", \"Blocks\": [ { \"Block\": \"matrices\", \"Name\": \"momentum\", \"Eta0\": 0.3 }, { \"Block\": \"output\", \"Name\": \"momentum\", \"Eta0\": 0.1 } ] },",
            StringComparison.Ordinal);
        string dir = Path.Combine(_dir, "composite");
        RunOutcome outcome = Assert.Single(Run(ExperimentLoader.Load(Experiment(json), ["--Stop:MaxTime=50"], useEnvironment: false), dir));
        Assert.NotEqual("failed", outcome.Status);
        JsonObject byBlock = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "summary.json")))!["stats"]!["rejectedByBlock"]!.AsObject();
        Assert.Contains("m:momentum", byBlock.Select(p => p.Key));
        Assert.Contains("m:momentum#2", byBlock.Select(p => p.Key));
    }

    [Fact]
    public void ConfigJson_RerunsTheSameRun()
    {
        ExperimentSettings s = ExperimentLoader.Load(Experiment(Tiny), [], useEnvironment: false);
        string first = Path.Combine(_dir, "first"), second = Path.Combine(_dir, "second");
        Run(s, first);
        ExperimentSettings again = ExperimentLoader.Load(Path.Combine(first, "config.json"), [], useEnvironment: false);
        Run(again, second);
        double[] a = Npy.ReadFile(Path.Combine(first, "theta_final.npy")).Data, b = Npy.ReadFile(Path.Combine(second, "theta_final.npy")).Data;
        for (int i = 0; i < a.Length; i++)
        {
            Assert.Equal(a[i], b[i], 1e-10 * Math.Max(1, Math.Abs(a[i])));
        }
    }

    [Fact]
    public void CancelledRun_IsInterrupted_AndStillWritesItsOutputs()
    {
        ExperimentSettings s = ExperimentLoader.Load(Experiment(Tiny), [], useEnvironment: false);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        string outDir = Path.Combine(_dir, "cut");
        RunOutcome outcome = Assert.Single(Run(s, outDir, cancelled.Token));
        Assert.Equal("interrupted", outcome.Status);
        Assert.Equal("interrupted", JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "summary.json")))!["status"]!.GetValue<string>());
        Assert.True(CsvTable.Read(Path.Combine(outDir, "trajectory.csv")).RowCount >= 1);
        Assert.Empty(Directory.GetFiles(outDir, "*.tmp*"));
    }

    [Theory]
    [InlineData("auto", "the checkpoint is kept", true)]
    [InlineData("discrete", "the checkpoint is kept", true)]
    public void InterruptedRun_KeepsItsCheckpoint_FlowOrDiscrete_AndSaysSo(string method, string says, bool hasCheckpoint)
    {
        ExperimentSettings s = ExperimentLoader.Load(Experiment(Tiny), [$"--Solver:Method={method}"], useEnvironment: false);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        string outDir = Path.Combine(_dir, "cut-" + method);
        RunOutcome outcome = Assert.Single(Run(s, outDir, cancelled.Token));
        Assert.Equal("interrupted", outcome.Status);
        Assert.Contains(says, outcome.Message, StringComparison.Ordinal);
        Assert.Equal(hasCheckpoint, File.Exists(Path.Combine(outDir, "checkpoint.bin")));
    }

    [Fact]
    public void DiscreteRun_WritesTheSameOutputs_WithTimeStepsOfH()
    {
        ExperimentSettings s = ExperimentLoader.Load(Experiment(Tiny), ["--Solver:Method=discrete", "--Solver:Step=0.5", "--Stop:MaxSteps=40"], useEnvironment: false);
        string outDir = Path.Combine(_dir, "discrete");
        RunOutcome outcome = Assert.Single(Run(s, outDir));
        Assert.Equal("max-steps", outcome.Status);
        Assert.Equal(20.0, outcome.FinalTime);
        CsvTable table = CsvTable.Read(Path.Combine(outDir, "trajectory.csv"));
        Assert.All(table.Column("t"), t => Assert.Equal(0, (t / 0.5) - Math.Round(t / 0.5), 12));
        Assert.Equal(40, table.Column("acceptedSteps")[^1]);
        Assert.Equal("discrete", JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "summary.json")))!["method"]!.GetValue<string>());
    }

    [Fact]
    public void SeveralOptimizersAndSeeds_GetSubfolders_AndOverlayPlots()
    {
        string json = Tiny.Replace("\"Optimizer\": { \"Name\": \"ngd\", \"Eta0\": 1.0, \"Power\": 0.8 },", "\"Optimizers\": [ { \"Name\": \"ngd\", \"Eta0\": 1.0 }, { \"Name\": \"signgd\", \"Eta0\": 0.3 } ], \"Seeds\": [1, 2],", StringComparison.Ordinal)
            .Replace("\"Plots\": false", "\"Plots\": true", StringComparison.Ordinal)
            .Replace("\"TargetLogLoss\": -20", "\"TargetLogLoss\": -5", StringComparison.Ordinal);
        ExperimentSettings s = ExperimentLoader.Load(Experiment(json), [], useEnvironment: false);
        string outDir = Path.Combine(_dir, "many");
        Assert.Equal(4, Run(s, outDir).Count);
        foreach (string run in new[] { "ngd/seed1", "ngd/seed2", "signgd/seed1", "signgd/seed2" })
        {
            Assert.True(File.Exists(Path.Combine(outDir, run, "trajectory.csv")), run);
            Assert.True(File.Exists(Path.Combine(outDir, run, "plots", "alignment.html")), run);
        }

        // The overlay draws each optimizer as a mean line with a 95% band over its two seeds.
        string overlay = File.ReadAllText(Path.Combine(outDir, "plots", "alignment.html"));
        Assert.Contains("ngd (mean of 2 seeds, 95% band)", overlay);
        Assert.Contains("signgd (mean of 2 seeds, 95% band)", overlay);

        // One plotly.js for the whole experiment, in its top plots folder; every run's pages load it from there.
        string script = Assert.Single(Directory.GetFiles(outDir, "plotly.min.js", SearchOption.AllDirectories));
        Assert.Equal(Path.Combine(outDir, "plots", "plotly.min.js"), script);
        Assert.Contains("<script src=\"../../../plots/plotly.min.js\"", File.ReadAllText(Path.Combine(outDir, "ngd", "seed2", "plots", "alignment.html")));
        long bytes = Directory.GetFiles(outDir, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        Assert.True(bytes < 6_000_000, $"{bytes} bytes for 4 runs: plotly.js is copied more than once?");

        // Each run and the experiment get an index.html with every figure and a table of the runs' outcomes.
        string index = File.ReadAllText(Path.Combine(outDir, "plots", "index.html"));
        Assert.Equal(RunPlots.Figures([new PlottedRun("ngd", TrajectoryFormat.ReadCsv(Path.Combine(outDir, "ngd", "seed1", "trajectory.csv")))]).Count, Regex.Count(index, "<section class=\"figure\""));
        foreach (string run in new[] { "ngd (seed 1)", "ngd (seed 2)", "signgd (seed 1)", "signgd (seed 2)" })
        {
            Assert.Contains($"<tr><td>{run}</td>", index);
        }

        string single = File.ReadAllText(Path.Combine(outDir, "signgd", "seed1", "plots", "index.html"));
        Assert.Contains("<tr><td>signgd (seed 1)</td>", single);
        Assert.DoesNotContain("seed 2", single);
    }

    [Fact]
    public void MissingMnist_NamesTheKeyAndTheCommandThatFetchesIt()
    {
        ExperimentSettings s = ExperimentLoader.Load(Experiment(Tiny), ["--Data:Kind=mnist", $"--Data:Directory={Path.Combine(_dir, "nowhere")}"], useEnvironment: false);
        ExperimentException e = Assert.Throws<ExperimentException>(() => Run(s, Path.Combine(_dir, "m")));
        Assert.Equal("Data:Directory", e.Key);
        Assert.Contains("ibflow data mnist", e.Message);
    }
}
