using System.Text.Json;
using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.Running;

namespace ImplicitBias.Flow.Cli.Tests;

/// <summary>
/// <c>ibflow diagnose</c> on a tiny Adam experiment (16 Gaussian samples in d = 4, width 6, squared ReLU): the shape
/// of its output (the physics of the eigenvalues is tested in Analysis.Tests against known spectra).
/// </summary>
public sealed class DiagnoseCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-diagnose-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Experiment()
    {
        string path = Path.Combine(_dir, "adam.json");
        File.WriteAllText(path, """
        {
          "Name": "tiny-adam",
          "Data": { "Kind": "gaussian", "Samples": 16, "Dimension": 4, "Seed": 3 },
          "Model": { "Depth": 2, "Width": 6, "Activation": "relu-q", "Q": 2, "InitScale": 0.5, "Seed": 5 },
          "Optimizer": { "Name": "adam", "Eta0": 0.3, "Power": 0.8 },
          "Solver": { "Backend": "cpu" }
        }
        """);
        return path;
    }

    private static (int Code, string Output, string Error) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = Program.Run(["diagnose", .. args], output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void Adam_Json_ModesSortedInConjugatePairsAndTheAdamThreshold()
    {
        (int code, string output, string error) = Run(Experiment(), "--at", "20,60", "--count", "6", "--json");
        Assert.True(code == 0, error);
        using JsonDocument json = JsonDocument.Parse(output);
        Assert.Equal("etdrk4+ros34pw2", json.RootElement.GetProperty("method").GetString());
        JsonElement[] points = json.RootElement.GetProperty("points").EnumerateArray().ToArray();
        Assert.Equal([20.0, 60.0], points.Select(p => p.GetProperty("t").GetDouble()));
        foreach (JsonElement p in points)
        {
            double h = p.GetProperty("stepSize").GetDouble();
            Assert.True(h > 0);
            JsonElement[] modes = p.GetProperty("modes").EnumerateArray().ToArray();
            Assert.Equal(6, modes.Length);
            double[] magnitudes = modes.Select(m => m.GetProperty("magnitude").GetDouble()).ToArray();
            Assert.Equal(magnitudes.OrderDescending(), magnitudes);
            foreach (JsonElement m in modes)
            {
                Assert.Equal(h * m.GetProperty("magnitude").GetDouble(), m.GetProperty("hMagnitude").GetDouble(), 12);
                double im = m.GetProperty("im").GetDouble();

                // A real field has real eigenvalues or conjugate pairs.
                Assert.True(Math.Abs(im) < 1e-12 || modes.Any(o => Math.Abs(o.GetProperty("im").GetDouble() + im) < 1e-9 * Math.Abs(im)), $"{im} has no conjugate");
                double shares = m.GetProperty("shares").EnumerateObject().Sum(b => b.Value.GetDouble());
                Assert.Equal(1.0, shares, 9);
            }

            // The θ–m stability limits: one per stepper, each positive.
            Dictionary<string, double> limits = p.GetProperty("pairStability").EnumerateArray().ToDictionary(x => x.GetProperty("method").GetString()!, x => x.GetProperty("maxStep").GetDouble());
            Assert.Equal(["etdrk4", "etd2", "bs3", "dopri5", "tsit5", "dop853"], limits.Keys);
            Assert.All(limits.Values, v => Assert.True(v > 0));

            // Adam with β1 = 0.9: threshold (2 + 2β1)/((1 − β1) η) = 38/η, and the ratio is λmax over it.
            JsonElement sharpness = p.GetProperty("sharpness");
            double eta = sharpness.GetProperty("eta").GetDouble();
            Assert.Equal(38 / eta, sharpness.GetProperty("threshold").GetDouble(), 1e-6);
            Assert.True(sharpness.GetProperty("largest").GetDouble() > 0);
            Assert.Equal(sharpness.GetProperty("largest").GetDouble() * eta / 38, sharpness.GetProperty("ratio").GetDouble(), 1e-9);
        }
    }

    [Fact]
    public void Table_NamesTheBlocksAndTheThreshold()
    {
        (int code, string output, string error) = Run(Experiment(), "--at", "30", "--count", "2");
        Assert.True(code == 0, error);
        Assert.Contains("t = 30 ", output, StringComparison.Ordinal);
        Assert.Contains("discrete threshold", output, StringComparison.Ordinal);
        Assert.Contains("m:adam", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--at", "10,-1", "--at '10,-1'")]
    [InlineData("--count", "0", "--count '0'")]
    public void BadOptions_OneLineError(string option, string value, string expected)
    {
        (int code, string output, string error) = Run(Experiment(), option, value);
        Assert.Equal(2, code);
        Assert.Equal(string.Empty, output);
        Assert.StartsWith($"ibflow diagnose: {expected}", error, StringComparison.Ordinal);
        Assert.Single(error.TrimEnd().Split('\n'));
    }

    /// <summary>A run of the experiment stopped at its 60th checkpoint, as Ctrl+C leaves it.</summary>
    private string InterruptedRun()
    {
        ExperimentSettings settings = ExperimentLoader.Load(Experiment(), ["--Checkpoint:Seconds=0", "--Outputs:Plots=false"], useEnvironment: false);
        string dir = Path.Combine(_dir, "run");
        using var cancel = new CancellationTokenSource();
        int written = 0;
        var runner = new ExperimentRunner(settings, dir, TextWriter.Null, interactive: false)
        {
            CheckpointWritten = _ =>
            {
                if (++written == 60)
                {
                    cancel.Cancel();
                }
            },
        };
        Assert.Equal("interrupted", Assert.Single(runner.Run(cancel.Token)).Status);
        return dir;
    }

    [Fact]
    public void From_ARunStoppedAtACheckpoint_DiagnosesItThereAndLater()
    {
        string run = InterruptedRun();
        (int code, string output, string error) = Run("--from", run, "--json", "--count", "2");
        Assert.True(code == 0, error);
        using JsonDocument json = JsonDocument.Parse(output);
        Assert.Equal("Checkpoint", json.RootElement.GetProperty("status").GetString());
        double t = Assert.Single(json.RootElement.GetProperty("points").EnumerateArray()).GetProperty("t").GetDouble();
        Assert.True(t > 0);

        string later = (t + 3).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        (code, output, error) = Run("--from", run, "--at", later, "--count", "2");
        Assert.True(code == 0, error);
        Assert.Equal(2, output.Split('\n').Count(l => l.StartsWith("t = ", StringComparison.Ordinal)));
    }

    [Fact]
    public void From_WithAnExperimentFile_OrWithoutACheckpoint_IsAOneLineError()
    {
        string run = InterruptedRun();
        (int code, string output, string error) = Run(Experiment(), "--from", run);
        Assert.Equal(2, code);
        Assert.Equal(string.Empty, output);
        Assert.StartsWith("ibflow diagnose: --from RUN takes no experiment file", error, StringComparison.Ordinal);
        Assert.Single(error.TrimEnd().Split('\n'));

        File.Delete(Path.Combine(run, RunCheckpoint.FileName));
        (code, output, error) = Run("--from", run);
        Assert.Equal(2, code);
        Assert.Contains("no checkpoint.bin", error, StringComparison.Ordinal);
        Assert.Single(error.TrimEnd().Split('\n'));
    }
}
