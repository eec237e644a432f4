using System.Globalization;
using System.Text.Json;
using ImplicitBias.Flow.Cli.Tests.Fixtures;
using ImplicitBias.Flow.Core.IO;
using ImplicitBias.Flow.Experiments.Configuration;

namespace ImplicitBias.Flow.Cli.Tests;

/// <summary>
/// A new optimizer needs only its definition: RMSProp (<see cref="RmsProp"/>), registered from this test project,
/// goes through ibflow run (host and ilgpu-cpu), verify and compare like a built-in one.
/// </summary>
public sealed class RmsPropTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-rmsprop-").FullName;

    public RmsPropTests() => RmsProp.Register();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Experiment(string backend, double maxTime)
    {
        string path = Path.Combine(_dir, $"rmsprop-{backend}.json");
        File.WriteAllText(path, string.Create(CultureInfo.InvariantCulture, $$"""
        {
          "Name": "tiny-rmsprop",
          "Data": { "Kind": "gaussian", "Samples": 16, "Dimension": 4, "Seed": 3 },
          "Model": { "Depth": 2, "Width": 6, "Activation": "relu-q", "Q": 2, "InitScale": 0.5, "Seed": 5 },
          "Optimizer": { "Name": "RMSProp", "Eta0": 0.05, "Power": 0.8, "Beta2": 0.99 },
          "Solver": { "Backend": "{{backend}}" },
          "Stop": { "TargetLogLoss": -30, "MaxTime": {{maxTime}} },
          "Outputs": { "Plots": false }
        }
        """));
        return path;
    }

    private static (int Code, string Output, string Error) Ibflow(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = Program.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void Vocabulary_HasTheRegisteredOptimizer()
    {
        Assert.Contains("rmsprop", Vocabulary.Optimizers);
        Assert.Contains("rmsprop", Ibflow("run", "--help").Output);
    }

    [Fact]
    public void Run_HostAndIlgpuCpu_ReachTheSameThetaWithTheOwnNormOfTheDefinition()
    {
        var finals = new List<double[]>();
        foreach (string backend in new[] { "cpu", "ilgpu-cpu" })
        {
            string outDir = Path.Combine(_dir, backend);
            (int code, _, string error) = Ibflow("run", Experiment(backend, 8), "--out", outDir);
            Assert.True(code == 0, error);
            string run = outDir; // one optimizer, one seed: the run folder is the output folder
            using JsonDocument summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "summary.json")));
            JsonElement root = summary.RootElement;
            Assert.Equal("max-time", root.GetProperty("status").GetString());
            Assert.Equal(backend == "cpu" ? "host" : "device", root.GetProperty("backend").GetProperty("state").GetString());
            JsonElement final = root.GetProperty("final");

            // The loss falls from log L(θ0) (the first row) and the own norm is the definition's ℓ∞.
            string[] lines = File.ReadAllLines(Path.Combine(run, "trajectory.csv"));
            int logLossColumn = Array.IndexOf(lines[0].Split(','), "logLoss");
            double first = double.Parse(lines[1].Split(',')[logLossColumn], CultureInfo.InvariantCulture);
            Assert.True(final.GetProperty("logLoss").GetDouble() < first - 0.1, $"log L {first} → {final.GetProperty("logLoss").GetDouble()}");
            Assert.Equal(final.GetProperty("margins").GetProperty("linf").GetDouble(), final.GetProperty("margins").GetProperty("own").GetDouble());
            finals.Add(Npy.ReadFile(Path.Combine(run, "theta_final.npy")).Data);
        }

        // The ILGPU gradients differ from the managed ones in the last bits only; the solves agree to the tolerance.
        double distance = 0, norm = 0;
        for (int i = 0; i < finals[0].Length; i++)
        {
            distance += Math.Pow(finals[0][i] - finals[1][i], 2);
            norm += finals[0][i] * finals[0][i];
        }

        Assert.True(Math.Sqrt(distance / norm) < 1e-4, $"relative distance {Math.Sqrt(distance / norm)}");
    }

    [Fact]
    public void Verify_ReportsTheRunAndTheCommonPredictions()
    {
        (int code, string output, string error) = Ibflow("verify", Experiment("cpu", 50), "--json", "--no-kkt");
        Assert.True(code == 0, error);
        using JsonDocument doc = JsonDocument.Parse(output);
        JsonElement run = Assert.Single(doc.RootElement.GetProperty("runs").EnumerateArray());
        Assert.Equal("rmsprop", run.GetProperty("optimizer").GetString());
        JsonElement[] rows = doc.RootElement.GetProperty("rows").EnumerateArray().ToArray();
        Assert.Contains(rows, r => r.GetProperty("quantity").GetString() == "alignment_own");

        // Family GradientFlow: no steepest-descent or momentum lemma is claimed for it.
        Assert.DoesNotContain(rows, r => r.GetProperty("reference").GetString() is "Lemma C.10" or "Lemma C.19");
    }

    [Fact]
    public void Compare_TheDiscreteFormIsFirstOrderForItsFlow()
    {
        (int code, string output, string error) = Ibflow("compare", Experiment("cpu", 100), "--h", "0.4,0.2,0.1,0.05", "--time", "4.8", "--refine", "0", "--out", Path.Combine(_dir, "compare"), "--json");
        Assert.True(code == 0, error);
        using JsonDocument doc = JsonDocument.Parse(output);
        Assert.Equal("rmsprop", doc.RootElement.GetProperty("optimizer").GetString());
        double order = doc.RootElement.GetProperty("order").GetDouble();
        Assert.InRange(order, 0.8, 1.2);
    }
}
