using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.Running;
using ImplicitBias.Flow.Experiments.Verification;
using ImplicitBias.Flow.Flows.Optimizers;

namespace ImplicitBias.Flow.Experiments.Tests;

/// <summary>The one setup of run, compare and verify, and verify's orchestration outside the CLI.</summary>
public sealed class FlowSessionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-session-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private ExperimentSettings Load(string optimizers)
    {
        string path = Path.Combine(_dir, "e.json");
        File.WriteAllText(path, $$"""
            {
              "Data": { "Kind": "gaussian", "Samples": 16, "Dimension": 3, "Seed": 1 },
              "Model": { "Depth": 2, "Width": 4, "Activation": "relu-q", "Q": 2, "InitScale": 0.5, "Seed": 2 },
              "Optimizers": [ {{optimizers}} ],
              "Solver": { "Backend": "cpu" },
              "Stop": { "TargetLogLoss": -10, "MaxTime": 200 }
            }
            """);
        return ExperimentLoader.Load(path, [], useEnvironment: false);
    }

    [Fact]
    public void Open_BuildsTheFlowOfTheOptimizerOnTheHost_WithTheSameThetaZeroForTheSameSeed()
    {
        ExperimentSettings settings = Load("""{ "Name": "muon-adam" }, { "Name": "ngd" }""");
        var model = new ExperimentModel(settings);
        using FlowSession a = FlowSession.Open(settings, model, settings.Optimizers[0], 7);
        using FlowSession b = FlowSession.Open(settings, model, settings.Optimizers[1], 7, serial: true);
        Assert.Equal(["muon", "adam"], a.Flow.Parts.Select(p => p.Name));
        Assert.Null(a.Engine);
        Assert.Equal(a.Theta0, b.Theta0);
        Assert.Equal(settings.Solver.RelTol, a.Tolerances.RelTol);
    }

    [Fact]
    public void Verify_ChecksEveryOptimizerInItsDefinitionsFamily()
    {
        ExperimentSettings settings = Load("""{ "Name": "ngd", "Eta0": 1.0 }, { "Name": "signum", "Eta0": 0.1 }""");
        IReadOnlyList<OptimizerVerification> reports = ExperimentVerification.Run(settings, kkt: false);
        Assert.Equal(["ngd", "signum"], reports.Select(r => r.Label));
        Assert.Equal([OptimizerFamily.SteepestDescent, OptimizerFamily.MomentumSteepestDescent], reports.Select(r => r.Family));
        Assert.All(reports, r => Assert.Contains(r.Rows, row => row.Quantity == "alignment_own"));
        Assert.Contains(reports[0].Rows, row => row.Reference == "Lemma C.10");
    }
}
