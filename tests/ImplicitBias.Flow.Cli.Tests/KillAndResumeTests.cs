using System.Diagnostics;
using System.Text.Json.Nodes;

namespace ImplicitBias.Flow.Cli.Tests;

/// <summary>
/// The ibflow process killed with SIGKILL at several moments, or stopped with SIGTERM, then `run --resume`: the final θ
/// and trajectory.csv are byte for byte those of an uninterrupted run, and an unfinished folder never reads as done.
/// </summary>
public sealed class KillAndResumeTests : IDisposable
{
    private const string Experiment = """
    {
      "Name": "killme",
      "Data": { "Kind": "gaussian", "Samples": 16, "Dimension": 4, "Seed": 3 },
      "Model": { "Depth": 2, "Width": 10, "Activation": "relu-q", "Q": 2, "InitScale": 0.5, "Seed": 2 },
      "Optimizer": { "Name": "adam", "Eta0": 0.3, "Power": 0.8 },
      "Solver": { "Backend": "cpu", "RelTol": 1e-9 },
      "Stop": { "TargetLogLoss": -40 },
      "Save": { "PointsPerDecade": 5 },
      "Outputs": { "Plots": false },
      "Checkpoint": { "Seconds": 0.01 }
    }
    """;

    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-kill-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static int RunInProcess(params string[] args) => Program.Run(args, TextWriter.Null, TextWriter.Null);

    /// <summary>Starts `ibflow run` as its own process (the ibflow.dll built beside this test assembly).</summary>
    private static Process Start(string experiment, string outDir)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "ibflow.dll");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in new[] { dll, "run", experiment, "--out", outDir })
        {
            info.ArgumentList.Add(a);
        }

        Process p = Process.Start(info)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    private static void WaitForCheckpoint(string outDir, Process p)
    {
        string checkpoint = Path.Combine(outDir, "checkpoint.bin");
        var clock = Stopwatch.StartNew();
        while (!File.Exists(checkpoint))
        {
            Assert.False(p.HasExited, "the run ended before its first checkpoint");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), "no checkpoint within 60 s");
            Thread.Sleep(5);
        }
    }

    private string WriteExperiment()
    {
        string path = Path.Combine(_dir, "exp.json");
        File.WriteAllText(path, Experiment);
        return path;
    }

    private void AssertSameAsUninterrupted(string whole, string resumed)
    {
        Assert.Equal(File.ReadAllBytes(Path.Combine(whole, "theta_final.npy")), File.ReadAllBytes(Path.Combine(resumed, "theta_final.npy")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(whole, "trajectory.csv")), File.ReadAllBytes(Path.Combine(resumed, "trajectory.csv")));
        Assert.Equal("target-reached", JsonNode.Parse(File.ReadAllText(Path.Combine(resumed, "summary.json")))!["status"]!.GetValue<string>());
        Assert.False(File.Exists(Path.Combine(resumed, "checkpoint.bin")));
    }

    [Fact]
    public void KillNine_AtSeveralMoments_ThenResume_IsBitIdentical()
    {
        string exp = WriteExperiment();
        string whole = Path.Combine(_dir, "whole");
        Assert.Equal(0, RunInProcess("run", exp, "--out", whole));

        var random = new Random(7);
        for (int k = 0; k < 3; k++)
        {
            string outDir = Path.Combine(_dir, $"killed{k}");
            using Process p = Start(exp, outDir);
            WaitForCheckpoint(outDir, p);
            Thread.Sleep(random.Next(0, 400));
            p.Kill(entireProcessTree: true); // SIGKILL
            p.WaitForExit();

            // What a kill leaves: a readable config.json and a summary.json that says the run is not finished.
            JsonNode summary = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "summary.json")))!;
            if (summary["status"]!.GetValue<string>() != "target-reached")
            {
                Assert.False(summary["finished"]!.GetValue<bool>());
                Assert.NotNull(JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "config.json"))));
            }

            Assert.Equal(0, RunInProcess("run", "--resume", outDir));
            AssertSameAsUninterrupted(whole, outDir);
            Assert.Empty(Directory.GetFiles(outDir, "*.tmp"));
        }
    }

    [Fact]
    public void Sigterm_StopsLikeCtrlC_ThenResumeFinishes()
    {
        string exp = WriteExperiment();
        string whole = Path.Combine(_dir, "whole");
        Assert.Equal(0, RunInProcess("run", exp, "--out", whole));

        string outDir = Path.Combine(_dir, "termed");
        using Process p = Start(exp, outDir);
        WaitForCheckpoint(outDir, p);
        using (Process kill = Process.Start("kill", ["-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!)
        {
            kill.WaitForExit();
        }

        Assert.True(p.WaitForExit(60_000), "SIGTERM did not stop the run");
        JsonNode summary = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "summary.json")))!;
        Assert.Equal("interrupted", summary["status"]!.GetValue<string>());
        Assert.Equal(130, p.ExitCode);
        Assert.True(File.Exists(Path.Combine(outDir, "trajectory.csv")));
        Assert.True(File.Exists(Path.Combine(outDir, "checkpoint.bin")));

        Assert.Equal(0, RunInProcess("run", "--resume", outDir));
        AssertSameAsUninterrupted(whole, outDir);
    }
}
