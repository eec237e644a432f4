using System.Diagnostics;
using System.Text.Json.Nodes;

namespace ImplicitBias.Flow.Cli.Tests;

/// <summary><c>ibflow sweep</c>: one-line errors, a local sweep, and the Slurm job array run by hand with a fake SLURM_ARRAY_TASK_ID.</summary>
public sealed class SweepCommandTests : IDisposable
{
    private const string Tiny = """
    {
      "Name": "tiny-sweep",
      "Data": { "Kind": "gaussian", "Samples": 16, "Dimension": 4, "Seed": 3 },
      "Model": { "Depth": 2, "Width": 4, "Activation": "relu-q", "Q": 2, "InitScale": 0.5 },
      "Optimizers": [ { "Name": "ngd", "Eta0": 1.5 }, { "Name": "signum", "Eta0": 0.05 } ],
      "Seeds": [1, 2],
      "Sweep": { "Solver:Method": ["auto", "discrete"] },
      "Solver": { "Backend": "cpu" },
      "Stop": { "TargetLogLoss": -4, "MaxTime": 50 },
      "Save": { "PointsPerDecade": 4 },
      "Outputs": { "Plots": false }
    }
    """;

    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-cli-sweep-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = Program.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    private string Sweep(string json = Tiny)
    {
        string path = Path.Combine(_dir, "sweep.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void EmptyAxis_IsOneLineErrorNamingTheKey()
    {
        (int code, _, string err) = Run("sweep", Sweep(Tiny.Replace("[\"auto\", \"discrete\"]", "[]", StringComparison.Ordinal)), "--out", Path.Combine(_dir, "o"));
        Assert.Equal(2, code);
        Assert.Contains("Sweep:Solver:Method", err, StringComparison.Ordinal);
        Assert.Single(err.Trim().Split('\n'));
        Assert.False(Directory.Exists(Path.Combine(_dir, "o")));
    }

    [Fact]
    public void LocalSweep_FinishesEveryRun_AndTheSameCommandAgainSkipsThem()
    {
        string outDir = Path.Combine(_dir, "local");
        (int code, string output, _) = Run("sweep", Sweep(), "--out", outDir, "--jobs", "2");
        Assert.Equal(0, code);
        Assert.Contains("8/8 done", output, StringComparison.Ordinal);
        (code, output, _) = Run("sweep", Sweep(), "--out", outDir);
        Assert.Equal(0, code);
        Assert.Contains("8 already finished, 0 to run", output, StringComparison.Ordinal);

        // The collect step (ibflow report) reads the sweep back: a verdict per finding, the page and report.json.
        string html = Path.Combine(_dir, "r", "report.html");
        (code, output, _) = Run("sweep", "--collect", outDir, "--out", html);
        Assert.Equal(0, code);
        Assert.Contains("8 run(s) read", output, StringComparison.Ordinal);
        Assert.True(File.Exists(html));
        JsonNode report = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "r", "report.json")))!;
        Assert.Equal(8, report["runs"]!.AsArray().Count);
        Assert.Contains(report["findings"]!.AsArray(), f => f!["finding"]!.GetValue<string>().StartsWith("discrete runs agree", StringComparison.Ordinal));
    }

    [Fact]
    public void Report_OfAFolderWithoutRuns_IsOneLineError()
    {
        (int code, _, string err) = Run("report", _dir);
        Assert.Equal(2, code);
        Assert.Contains("no run folder", err, StringComparison.Ordinal);
        Assert.Single(err.Trim().Split('\n'));
    }

    [Fact]
    public void Slurm_WritesAJobArray_WhoseTaskRunsOneFolder()
    {
        string outDir = Path.Combine(_dir, "cluster");
        string ibflow = $"dotnet {typeof(Program).Assembly.Location}";
        (int code, string output, _) = Run("sweep", Sweep(), "--out", outDir, "--slurm", "--time", "00:10:00", "--mem", "1G", "--ibflow", ibflow);
        Assert.Equal(0, code);
        Assert.Contains("sbatch", output, StringComparison.Ordinal);
        string script = File.ReadAllText(Path.Combine(outDir, "sweep.slurm"));
        Assert.Contains("#SBATCH --array=0-7", script, StringComparison.Ordinal);
        Assert.Contains("#SBATCH --time=00:10:00", script, StringComparison.Ordinal);
        Assert.Contains("#SBATCH --mem=1G", script, StringComparison.Ordinal);
        Assert.Contains("#SBATCH --cpus-per-task=2", script, StringComparison.Ordinal);
        string[] folders = File.ReadAllLines(Path.Combine(outDir, "tasks.txt"));
        Assert.Equal(8, folders.Length);
        Assert.All(folders, f => Assert.True(File.Exists(Path.Combine(outDir, f, "config.json"))));
        Assert.All(folders, f => Assert.False(File.Exists(Path.Combine(outDir, f, "summary.json"))));

        // What Slurm does for array task 1: run the script with SLURM_ARRAY_TASK_ID=1.
        var start = new ProcessStartInfo("bash", [Path.Combine(outDir, "sweep.slurm")]) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["SLURM_ARRAY_TASK_ID"] = "1";
        using Process task = Process.Start(start)!;
        string taskOut = task.StandardOutput.ReadToEnd() + task.StandardError.ReadToEnd();
        task.WaitForExit();
        Assert.True(task.ExitCode == 0, taskOut);
        JsonNode summary = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, folders[1], "summary.json")))!;
        Assert.True(summary["finished"]!.GetValue<bool>());
        Assert.Equal(folders.Length - 1, folders.Count(f => !File.Exists(Path.Combine(outDir, f, "summary.json"))));

        // A local sweep over the same folder finishes the other runs and keeps task 1's.
        DateTime written = File.GetLastWriteTimeUtc(Path.Combine(outDir, folders[1], "summary.json"));
        (code, output, _) = Run("sweep", Sweep(), "--out", outDir);
        Assert.Equal(0, code);
        Assert.Contains("1 already finished, 7 to run", output, StringComparison.Ordinal);
        Assert.Equal(written, File.GetLastWriteTimeUtc(Path.Combine(outDir, folders[1], "summary.json")));
    }
}
