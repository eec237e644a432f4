using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.Diagnostics;
using ImplicitBias.Flow.Experiments.Running;

namespace ImplicitBias.Flow.Experiments.Tests;

/// <summary>
/// <see cref="FlowDiagnosis.RunFrom"/>: a run stopped at a checkpoint is diagnosed there, and at later times by
/// continuing its solve, with the same answers as a diagnosis that solves the experiment again from t = 0; the run
/// folder is only read.
/// </summary>
public sealed class DiagnoseFromCheckpointTests : IDisposable
{
    private const string TinyAdam = """
    {
      "Name": "tiny-adam",
      "Data": { "Kind": "gaussian", "Samples": 16, "Dimension": 4, "Seed": 3 },
      "Model": { "Depth": 2, "Width": 6, "Activation": "relu-q", "Q": 2, "InitScale": 0.5, "Seed": 5 },
      "Optimizer": { "Name": "adam", "Eta0": 0.3, "Power": 0.8 },
      "Solver": { "Backend": "cpu" },
      "Stop": { "TargetLogLoss": -10 },
      "Outputs": { "Plots": false }
    }
    """;

    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-diagnose-from-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private ExperimentSettings Settings()
    {
        string path = Path.Combine(_dir, "adam.json");
        File.WriteAllText(path, TinyAdam);
        return ExperimentLoader.Load(path, ["--Checkpoint:Seconds=0"], useEnvironment: false);
    }

    private static DiagnosisOptions At(params double[] times) => new() { Times = times, Count = 4, KrylovDimension = 30 };

    [Fact]
    public void AtTheCheckpointAndLater_AgreesWithSolvingAgainFromTheStart_AndLeavesTheFolderAsItWas()
    {
        ExperimentSettings s = Settings();
        string cut = Path.Combine(_dir, "cut");
        Assert.Equal("interrupted", Assert.Single(Interrupted.AtCheckpoint(s, cut, 150)).Status);
        string[] files = Directory.GetFiles(cut, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
        byte[][] before = files.Select(File.ReadAllBytes).ToArray();

        DiagnosisResult atCheckpoint = FlowDiagnosis.RunFrom(cut, At());
        DiagnosisPoint p0 = Assert.Single(atCheckpoint.Points);
        Assert.Equal("Checkpoint", atCheckpoint.Status);
        Assert.True(p0.Time > 0 && p0.Evaluations > 0 && p0.StepSize > 0, $"t = {p0.Time}, evaluations {p0.Evaluations}, h = {p0.StepSize}");

        double later = p0.Time + 5;
        DiagnosisResult continued = FlowDiagnosis.RunFrom(cut, At(p0.Time, later));
        Assert.Equal([p0.Time, later], continued.Points.Select(p => p.Time));
        Assert.True(continued.Points[1].Evaluations > p0.Evaluations);

        // Solving again from t = 0 reaches the same states to the tolerance (its steps end on other save times).
        DiagnosisResult fresh = FlowDiagnosis.Run(s, At(p0.Time, later));
        for (int k = 0; k < 2; k++)
        {
            DiagnosisPoint a = continued.Points[k], b = fresh.Points[k];
            Assert.Equal(b.LogLoss, a.LogLoss, 1e-5 * Math.Abs(b.LogLoss));
            Assert.Equal(b.Modes[0].Eigenvalue.Magnitude, a.Modes[0].Eigenvalue.Magnitude, 1e-4 * b.Modes[0].Eigenvalue.Magnitude);
            Assert.Equal(b.Sharpness!.Largest, a.Sharpness!.Largest, 1e-4 * b.Sharpness.Largest);
        }

        Assert.Equal(files, Directory.GetFiles(cut, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal));
        Assert.Equal(before, files.Select(File.ReadAllBytes));
    }

    [Fact]
    public void NoCheckpoint_TimesBeforeIt_OrNoRunFolder_AreErrorsThatSaySo()
    {
        ExperimentSettings s = Settings();
        string whole = Path.Combine(_dir, "whole");
        Assert.Equal("target-reached", Assert.Single(new ExperimentRunner(s, whole, TextWriter.Null, interactive: false).Run()).Status);
        ExperimentException none = Assert.Throws<ExperimentException>(() => FlowDiagnosis.RunFrom(whole, At()));
        Assert.Contains("no checkpoint.bin", none.Message, StringComparison.Ordinal);

        ExperimentException folder = Assert.Throws<ExperimentException>(() => FlowDiagnosis.RunFrom(_dir, At()));
        Assert.Contains("--from", folder.Message, StringComparison.Ordinal);

        string cut = Path.Combine(_dir, "cut");
        Interrupted.AtCheckpoint(s, cut, 20);
        ExperimentException early = Assert.Throws<ExperimentException>(() => FlowDiagnosis.RunFrom(cut, At(1e-3)));
        Assert.Contains("--at", early.Message, StringComparison.Ordinal);
        Assert.Contains("at or after the checkpoint", early.Message, StringComparison.Ordinal);
    }
}
