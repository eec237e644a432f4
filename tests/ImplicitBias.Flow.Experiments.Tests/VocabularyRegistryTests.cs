using ImplicitBias.Flow.Experiments.Comparison;
using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Flows.Optimizers;

namespace ImplicitBias.Flow.Experiments.Tests;

/// <summary>The experiment vocabulary and the loader's defaults are the optimizer registry's, not lists of their own.</summary>
public sealed class VocabularyRegistryTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-vocabulary-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private ExperimentSettings Load(string optimizer, string activation, int depth = 2)
    {
        string path = Path.Combine(_dir, "e.json");
        File.WriteAllText(path, $$"""
            { "Model": { "Depth": {{depth}}, "Activation": "{{activation}}" }, "Optimizer": { "Name": "{{optimizer}}" } }
            """);
        return ExperimentLoader.Load(path, [], useEnvironment: false);
    }

    [Fact]
    public void Optimizers_AreTheRegistryNames()
    {
        Assert.Equal(OptimizerRegistry.Names, Vocabulary.Optimizers);
        Assert.Equal(OptimizerRegistry.All.Where(d => d.NeedsMatrices).Select(d => d.Name), Vocabulary.MatrixOptimizers);
        Assert.Equal(["gd", "ngd", "signgd", "momentum", "nmomentum", "signum", "spectral", "muon", "muon-signum", "adam", "muon-adam"], OptimizerRegistry.Names.Take(11));
    }

    [Fact]
    public void Loader_TakesNameDefaultEta0AndAssumptionFromTheDefinition()
    {
        foreach (OptimizerDefinition d in OptimizerRegistry.All)
        {
            foreach (string activation in Vocabulary.Activations)
            {
                OptimizerSettings o = Assert.Single(Load(d.Name, activation).Optimizers);
                Assert.Equal(d.Name, o.Name);
                Assert.Equal(d.DefaultEta0For(activation), o.Eta0);
            }

            Assert.Equal(d.Schedule, ExperimentLoader.AssumptionFor(d.Name));
            foreach (string alias in d.Aliases)
            {
                Assert.Equal(d.Name, Assert.Single(Load(alias.ToUpperInvariant(), "relu-q").Optimizers).Name);
            }
        }

        // Table 1: the rates differ between ReLU and squared ReLU.
        Assert.Equal(2.0, Assert.Single(Load("ngd", "relu").Optimizers).Eta0);
        Assert.Equal(1.5, Assert.Single(Load("ngd", "relu-q").Optimizers).Eta0);
    }

    [Fact]
    public void Loader_RejectsAMatrixOptimizerOnADepthOneModel_NamingTheKey()
    {
        foreach (OptimizerDefinition d in OptimizerRegistry.All.Where(d => d.NeedsMatrices))
        {
            ExperimentException e = Assert.Throws<ExperimentException>(() => Load(d.Name, "relu", depth: 1));
            Assert.Contains("Optimizer:Name", e.Message);
        }
    }

    [Fact]
    public void Loader_RejectsADiscreteRunOfAFlowOnlyOptimizer()
    {
        OptimizerRegistry.Register(FlowOnly);
        Assert.Equal("ngd-flow-only", Assert.Single(Load("ngd-flow-only", "relu-q").Optimizers).Name);
        string path = Path.Combine(_dir, "e.json");
        ExperimentException e = Assert.Throws<ExperimentException>(() => ExperimentLoader.Load(path, ["--Solver:Method=discrete"], useEnvironment: false));
        Assert.Contains("has no discrete form", e.Message);

        ExperimentSettings flowOnly = ExperimentLoader.Load(path, [], useEnvironment: false);
        ExperimentException compare = Assert.Throws<ExperimentException>(() => DiscretizationComparison.Run(flowOnly, new ComparisonOptions()));
        Assert.Contains("compare needs a discrete form", compare.Message);
        Assert.Equal("Optimizer:Name", compare.Key);
    }

    private static readonly OptimizerDefinition FlowOnly = OptimizerRegistry.Get("ngd") with { Name = "ngd-flow-only", Aliases = [], HasDiscreteForm = false };
}
