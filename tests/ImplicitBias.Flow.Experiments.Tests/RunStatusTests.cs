using System.Text.Json.Nodes;
using ImplicitBias.Flow.Analysis.Observers;
using ImplicitBias.Flow.Core.IO;
using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.Outputs;
using ImplicitBias.Flow.Experiments.Reports;
using ImplicitBias.Flow.Experiments.Running;

namespace ImplicitBias.Flow.Experiments.Tests;

/// <summary>
/// Every status a run writes is true of the model's loss at its end; statuses and messages through the runner for
/// every method; duplicate optimizer entries; checkpoints, interruption and <see cref="ExperimentRunner.Resume"/>.
/// </summary>
public sealed class RunStatusTests : IDisposable
{
    private const string Tiny = """
    {
      "Name": "tiny",
      "Data": { "Kind": "gaussian", "Samples": 16, "Dimension": 4, "Seed": 3 },
      "Model": { "Depth": 2, "Width": 10, "Activation": "relu-q", "Q": 2, "InitScale": 0.5, "Seed": 2 },
      "Optimizer": { "Name": "ngd", "Eta0": 1.0, "Power": 0.8 },
      "Solver": { "Backend": "cpu" },
      "Stop": { "TargetLogLoss": -20 },
      "Save": { "PointsPerDecade": 5 },
      "Outputs": { "Plots": false }
    }
    """;

    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-status-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private ExperimentSettings Load(string json, params string[] overrides)
    {
        string path = Path.Combine(_dir, $"exp{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return ExperimentLoader.Load(path, overrides, useEnvironment: false);
    }

    private static IReadOnlyList<RunOutcome> Run(ExperimentSettings s, string outDir, CancellationToken token = default) =>
        new ExperimentRunner(s, outDir, TextWriter.Null, interactive: false).Run(token);

    private static JsonNode Summary(string dir) => JsonOutput.Read(Path.Combine(dir, "summary.json"));

    [Theory]
    [InlineData("euler")]
    [InlineData("rk4")]
    [InlineData("heun-euler")]
    [InlineData("etd2")]
    [InlineData("bs3")]
    [InlineData("dop853")]
    [InlineData("discrete")]
    public void EveryMethod_ThroughTheRunner_ReachesTheTargetInTheModelsLoss(string method)
    {
        ExperimentSettings s = Load(Tiny, $"--Solver:Method={method}", "--Solver:Step=0.05");
        string outDir = Path.Combine(_dir, method);
        RunOutcome o = Assert.Single(Run(s, outDir));
        Assert.Equal("target-reached", o.Status);
        CsvTable table = CsvTable.Read(Path.Combine(outDir, "trajectory.csv"));
        Assert.True(table.Column("logLoss")[^1] <= -20, $"{method}: final log L {table.Column("logLoss")[^1]}");
        Assert.Equal(o.FinalLogLoss, table.Column("logLoss")[^1]);
        Assert.StartsWith("Reached log L = ", Summary(outDir)["message"]!.GetValue<string>());
    }

    [Fact]
    public void MaxTime_IsReportedInTheUsersWords()
    {
        ExperimentSettings s = Load(Tiny, "--Stop:MaxTime=2");
        string outDir = Path.Combine(_dir, "maxtime");
        RunOutcome o = Assert.Single(Run(s, outDir));
        Assert.Equal("max-time", o.Status);
        Assert.Equal(2.0, o.FinalTime);
        Assert.True(o.FinalLogLoss > -20);
        Assert.StartsWith("Stopped at MaxTime t = 2 ", Summary(outDir)["message"]!.GetValue<string>());
        Assert.True(Summary(outDir)["finished"]!.GetValue<bool>());
    }

    [Fact]
    public void NonFiniteRun_IsReportedAsFailed()
    {
        // Euler with a step of 1e5 on GD with η0 = 1e3 overflows: failed, never target-reached.
        ExperimentSettings s = Load(Tiny.Replace("\"ngd\"", "\"gd\"", StringComparison.Ordinal).Replace("1.0, \"Power\"", "1000, \"Power\"", StringComparison.Ordinal), "--Solver:Method=euler", "--Solver:Step=100000");
        string outDir = Path.Combine(_dir, "failed");
        RunOutcome o = Assert.Single(Run(s, outDir));
        Assert.Equal("failed", o.Status);
        Assert.StartsWith("Failed at t = ", Summary(outDir)["message"]!.GetValue<string>());
    }

    [Fact]
    public void StepsThatLeaveTheFlow_AreSaidInTheMessageAndTheWarnings()
    {
        // Euler's normalized steps of η h, far too long for the curvature, zigzag across the valley of log L: each is
        // a step of the method, none follows the flow, and the summary says so; the adaptive default does not.
        ExperimentSettings s = Load(Tiny, "--Solver:Method=euler", "--Solver:Step=20", "--Stop:MaxSteps=600", "--Stop:TargetLogLoss=-1000");
        string outDir = Path.Combine(_dir, "offflow");
        RunOutcome o = Assert.Single(Run(s, outDir));
        JsonNode summary = Summary(outDir);
        Assert.True(summary["logLossDrift"]!["offFlowWindows"]!.GetValue<long>() > 0, summary["logLossDrift"]!.ToJsonString());
        Assert.Equal(3, summary["logLossDrift"]!["windows"]!.GetValue<long>());
        Assert.Contains("left the flow", o.Message, StringComparison.Ordinal);
        Assert.Contains(summary["warnings"]!.AsArray(), w => w!.GetValue<string>().Contains("windows of 200 accepted steps left the flow", StringComparison.Ordinal));

        string followed = Path.Combine(_dir, "followed");
        RunOutcome f = Assert.Single(Run(Load(Tiny, "--Stop:TargetLogLoss=-60"), followed));
        Assert.Equal("target-reached", f.Status);
        Assert.Equal(0, Summary(followed)["logLossDrift"]!["offFlowWindows"]!.GetValue<long>());
        Assert.DoesNotContain("left the flow", f.Message, StringComparison.Ordinal);
        Assert.Empty(Summary(followed)["warnings"]!.AsArray());

        // A report over both lists the run that left the flow, in report.json as in its notes.
        IReadOnlyList<ReportRun> runs = ReportRun.ReadAll(_dir);
        Assert.True(runs.Single(r => r.Folder.StartsWith("offflow", StringComparison.Ordinal)).OffFlowWindows > 0);
        Assert.Equal(0, runs.Single(r => r.Folder.StartsWith("followed", StringComparison.Ordinal)).OffFlowWindows);
        JsonArray reported = SweepReport.ToJson([], runs)["runs"]!.AsArray();
        Assert.Contains(reported, r => r!["offFlowWindows"]!.GetValue<long>() > 0 && r["folder"]!.GetValue<string>().StartsWith("offflow", StringComparison.Ordinal));
    }

    [Fact]
    public void TargetCheck_AllowsRoundingOnly()
    {
        // The event is located on one evaluation of log L and checked on another: a few ulps above the target is the
        // same crossing, anything a researcher could see is not.
        Assert.True(ExperimentRunner.ReachedTarget(-18.420680743952367, -18.420680743952367));
        Assert.True(ExperimentRunner.ReachedTarget(Math.BitIncrement(Math.BitIncrement(-4.0)), -4.0));
        Assert.True(ExperimentRunner.ReachedTarget(-4.0 + 1e-12, -4.0));
        Assert.False(ExperimentRunner.ReachedTarget(-4.0 + 1e-10, -4.0));
        Assert.False(ExperimentRunner.ReachedTarget(-18.4206, -18.420680743952367));
        Assert.False(ExperimentRunner.ReachedTarget(double.NaN, -4.0));
    }

    [Theory]
    [InlineData("auto")]
    [InlineData("discrete")]
    public void TargetMetAtTheStart_StopsAtTimeZero(string method)
    {
        ExperimentSettings s = Load(Tiny, $"--Solver:Method={method}", "--Stop:TargetLogLoss=100");
        string outDir = Path.Combine(_dir, "at0" + method);
        RunOutcome o = Assert.Single(Run(s, outDir));
        Assert.Equal("target-reached", o.Status);
        Assert.Equal(0.0, o.FinalTime);
        Assert.Contains("already met the target", Summary(outDir)["message"]!.GetValue<string>());
    }

    [Fact]
    public void TwoEntriesOfTheSameOptimizer_WriteTwoFolders()
    {
        string json = Tiny.Replace("\"Optimizer\": { \"Name\": \"ngd\", \"Eta0\": 1.0, \"Power\": 0.8 },", "\"Optimizers\": [ { \"Name\": \"ngd\", \"Eta0\": 1.0 }, { \"Name\": \"ngd\", \"Eta0\": 2.0 } ],", StringComparison.Ordinal);
        ExperimentSettings s = Load(json, "--Stop:TargetLogLoss=-5");
        string outDir = Path.Combine(_dir, "dup");
        Assert.Equal(2, Run(s, outDir).Count);
        Assert.Equal(1.0, JsonOutput.Read(Path.Combine(outDir, "ngd", "config.json"))["Optimizer"]!["Eta0"]!.GetValue<double>());
        Assert.Equal(2.0, JsonOutput.Read(Path.Combine(outDir, "ngd-2", "config.json"))["Optimizer"]!["Eta0"]!.GetValue<double>());
    }

    [Fact]
    public void InterruptedExperiment_LeavesUnfinishedSummaries_AndResumeEqualsAnUninterruptedRun()
    {
        string json = Tiny.Replace("\"Optimizer\": { \"Name\": \"ngd\", \"Eta0\": 1.0, \"Power\": 0.8 },", "\"Optimizers\": [ { \"Name\": \"adam\", \"Eta0\": 0.3 }, { \"Name\": \"ngd\", \"Eta0\": 1.0 } ],", StringComparison.Ordinal);
        ExperimentSettings s = Load(json, "--Checkpoint:Seconds=0", "--Stop:TargetLogLoss=-10");
        string whole = Path.Combine(_dir, "whole"), cut = Path.Combine(_dir, "cut");
        Run(s, whole);

        // Interrupt the first run (Adam) at its 25th checkpoint: the checkpoint stays, the second run is pending.
        IReadOnlyList<RunOutcome> first = Interrupted.AtCheckpoint(s, cut, 25);
        Assert.Equal("interrupted", Assert.Single(first).Status);
        Assert.False(Summary(Path.Combine(cut, "adam"))["finished"]!.GetValue<bool>());
        Assert.True(File.Exists(Path.Combine(cut, "adam", RunCheckpoint.FileName)));
        Assert.Equal("pending", Summary(Path.Combine(cut, "ngd"))["status"]!.GetValue<string>());
        Assert.True(File.Exists(Path.Combine(cut, "ngd", "config.json")));

        IReadOnlyList<RunOutcome> resumed = ExperimentRunner.Resume(cut, TextWriter.Null, interactive: false);
        Assert.All(resumed, o => Assert.Equal("target-reached", o.Status));
        foreach (string run in new[] { "adam", "ngd" })
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(whole, run, "trajectory.csv")), File.ReadAllBytes(Path.Combine(cut, run, "trajectory.csv")));
            Assert.Equal(File.ReadAllBytes(Path.Combine(whole, run, "theta_final.npy")), File.ReadAllBytes(Path.Combine(cut, run, "theta_final.npy")));
            Assert.False(File.Exists(Path.Combine(cut, run, RunCheckpoint.FileName)));
        }

        // Resuming a finished experiment changes nothing.
        byte[] before = File.ReadAllBytes(Path.Combine(cut, "adam", "trajectory.csv"));
        Assert.All(ExperimentRunner.Resume(cut, TextWriter.Null, interactive: false), o => Assert.Equal("target-reached", o.Status));
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(cut, "adam", "trajectory.csv")));
    }

    [Fact]
    public void Resume_WithSaveSharpnessChangedInConfigJson_IsAOneLineErrorNamingTheKey()
    {
        // Measured once as "internal error in Trajectory.Add" with a stack trace: the restored rows had no sharpness.
        string json = Tiny.Replace("\"Optimizer\": { \"Name\": \"ngd\", \"Eta0\": 1.0, \"Power\": 0.8 },", "\"Optimizer\": { \"Name\": \"adam\", \"Eta0\": 0.3 },", StringComparison.Ordinal);
        ExperimentSettings s = Load(json, "--Checkpoint:Seconds=0", "--Stop:TargetLogLoss=-10");
        string cut = Path.Combine(_dir, "sharpness-cut");
        Assert.Equal("interrupted", Assert.Single(Interrupted.AtCheckpoint(s, cut, 10)).Status);
        string config = Path.Combine(cut, "config.json");
        JsonNode edited = JsonOutput.Read(config);
        edited["Save"]!["Sharpness"] = true;
        File.WriteAllText(config, edited.ToJsonString());
        byte[] checkpoint = File.ReadAllBytes(Path.Combine(cut, RunCheckpoint.FileName));

        ExperimentException e = Assert.Throws<ExperimentException>(() => ExperimentRunner.Resume(cut, TextWriter.Null, interactive: false));
        Assert.Contains("Save:Sharpness = false", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(checkpoint, File.ReadAllBytes(Path.Combine(cut, RunCheckpoint.FileName)));
    }

    [Fact]
    public void InterruptedDiscreteRun_ResumesFromItsCheckpoint_BitForBit()
    {
        // The discrete optimizer's checkpoints are the engine's, as a flow's: θ, log L, the moments with their log
        // scales, the carried gradient, the step count and the observer.
        string json = Tiny.Replace("\"Optimizer\": { \"Name\": \"ngd\", \"Eta0\": 1.0, \"Power\": 0.8 },", "\"Optimizer\": { \"Name\": \"adam\", \"Eta0\": 0.3 },", StringComparison.Ordinal);
        ExperimentSettings s = Load(json, "--Solver:Method=discrete", "--Solver:Step=0.5", "--Stop:MaxSteps=60", "--Checkpoint:Seconds=0", "--Stop:TargetLogLoss=-10");
        string whole = Path.Combine(_dir, "discrete-whole"), cut = Path.Combine(_dir, "discrete-cut");
        RunOutcome uninterrupted = Assert.Single(Run(s, whole));
        Assert.Equal("interrupted", Assert.Single(Interrupted.AtCheckpoint(s, cut, 17)).Status);
        Assert.True(File.Exists(Path.Combine(cut, RunCheckpoint.FileName)));

        RunOutcome resumed = Assert.Single(ExperimentRunner.Resume(cut, TextWriter.Null, interactive: false));
        Assert.Equal(uninterrupted.Status, resumed.Status);
        Assert.Equal(uninterrupted.FinalTime, resumed.FinalTime);
        Assert.Equal(File.ReadAllBytes(Path.Combine(whole, "trajectory.csv")), File.ReadAllBytes(Path.Combine(cut, "trajectory.csv")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(whole, "theta_final.npy")), File.ReadAllBytes(Path.Combine(cut, "theta_final.npy")));
        Assert.False(File.Exists(Path.Combine(cut, RunCheckpoint.FileName)));
    }

    [Fact]
    public void InterruptedAfterTheHandOverToEtdrk4_ResumesInTheExponentialPhase_BitForBit()
    {
        // Normalized momentum's default is bs3+etdrk4: the checkpoint file keeps the stepper's phase (version 2), so a
        // run cut after the switch resumes with ETDRK4 and ends as the uninterrupted one did.
        string json = Tiny.Replace("\"Optimizer\": { \"Name\": \"ngd\", \"Eta0\": 1.0, \"Power\": 0.8 },", "\"Optimizer\": { \"Name\": \"nmomentum\", \"Eta0\": 0.3 },", StringComparison.Ordinal);
        ExperimentSettings s = Load(json, "--Checkpoint:Seconds=0", "--Stop:TargetLogLoss=-100");
        string whole = Path.Combine(_dir, "switch-whole"), cut = Path.Combine(_dir, "switch-cut");
        int total = 0;
        var counting = new ExperimentRunner(s, whole, TextWriter.Null, interactive: false) { CheckpointWritten = _ => total++ };
        Assert.Equal("target-reached", Assert.Single(counting.Run(CancellationToken.None)).Status);
        string note = Summary(whole)["methodNote"]!.GetValue<string>();
        Assert.StartsWith("bs3 until t = ", note, StringComparison.Ordinal);

        Assert.Equal("interrupted", Assert.Single(Interrupted.AtCheckpoint(s, cut, total * 9 / 10)).Status);
        Assert.Contains("then etdrk4", Summary(cut)["methodNote"]!.GetValue<string>(), StringComparison.Ordinal);

        RunOutcome resumed = Assert.Single(ExperimentRunner.Resume(cut, TextWriter.Null, interactive: false));
        Assert.Equal("target-reached", resumed.Status);
        Assert.Equal(note, Summary(cut)["methodNote"]!.GetValue<string>());
        Assert.Equal(Summary(whole)["stats"]!.ToJsonString(), Summary(cut)["stats"]!.ToJsonString()); // rejections by block too (version 3)
        Assert.Equal(File.ReadAllBytes(Path.Combine(whole, "trajectory.csv")), File.ReadAllBytes(Path.Combine(cut, "trajectory.csv")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(whole, "theta_final.npy")), File.ReadAllBytes(Path.Combine(cut, "theta_final.npy")));
    }

    [Fact]
    public void SaveSharpness_AddsTheColumnsAndTheFigure_AndIsRefusedWithoutAPreconditioner()
    {
        string adam = Tiny.Replace("\"Optimizer\": { \"Name\": \"ngd\", \"Eta0\": 1.0, \"Power\": 0.8 },", "\"Optimizer\": { \"Name\": \"adam\", \"Eta0\": 0.3 },", StringComparison.Ordinal);
        string with = Path.Combine(_dir, "sharp"), without = Path.Combine(_dir, "plain");
        Run(Load(adam, "--Save:Sharpness=true", "--Stop:TargetLogLoss=-10", "--Outputs:Plots=true"), with);
        Run(Load(adam, "--Stop:TargetLogLoss=-10"), without);
        Trajectory a = TrajectoryFormat.ReadCsv(Path.Combine(with, "trajectory.csv")), b = TrajectoryFormat.ReadCsv(Path.Combine(without, "trajectory.csv"));
        Assert.All(a, o => Assert.True(o.Sharpness!.Largest > 0 && o.Sharpness.Threshold > 0));
        foreach (TrajectoryColumn column in TrajectoryFormat.Columns(b))
        {
            Assert.Equal(b.Values(column.Value), a.Values(column.Value));
        }

        Assert.True(File.Exists(Path.Combine(with, "plots", "sharpness.html")));
        Assert.False(File.Exists(Path.Combine(without, "plots", "sharpness.html")));
        Assert.True(JsonOutput.Read(Path.Combine(with, "config.json"))["Save"]!["Sharpness"]!.GetValue<bool>());

        ExperimentException e = Assert.Throws<ExperimentException>(() => Load(Tiny.Replace("\"ngd\"", "\"signum\"", StringComparison.Ordinal), "--Save:Sharpness=true"));
        Assert.Contains("Save:Sharpness", e.Message, StringComparison.Ordinal);
        Assert.Contains("'signum' has no preconditioner", e.Message, StringComparison.Ordinal);
        Assert.Contains("gd, ngd, momentum, adam", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void SameExperimentTwice_GivesTheSameOutputsBitForBit_WithThreads()
    {
        // The evaluator splits the work over every core (maxDegreeOfParallelism −1); the summation order is fixed.
        string json = Tiny.Replace("\"Optimizer\": { \"Name\": \"ngd\", \"Eta0\": 1.0, \"Power\": 0.8 },", "\"Optimizers\": [ { \"Name\": \"adam\", \"Eta0\": 0.3 }, { \"Name\": \"signum\", \"Eta0\": 0.1 } ],", StringComparison.Ordinal);
        ExperimentSettings s = Load(json, "--Stop:TargetLogLoss=-10");
        string a = Path.Combine(_dir, "a"), b = Path.Combine(_dir, "b");
        Run(s, a);
        Run(s, b);
        foreach (string run in new[] { "adam", "signum" })
        {
            foreach (string file in new[] { "trajectory.csv", "theta_final.npy", "config.json" })
            {
                Assert.Equal(File.ReadAllBytes(Path.Combine(a, run, file)), File.ReadAllBytes(Path.Combine(b, run, file)));
            }
        }
    }
}
