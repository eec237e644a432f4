using ImplicitBias.Flow.Experiments.Comparison;
using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Models.Losses;

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
    public void SettingsWords_AreReadOnceIntoTypes_AndWrittenBackAsTheSameWords()
    {
        // Every word names one value and every value has one word: the loader parses them once, config.json writes them back.
        Assert.Equal(Enum.GetValues<LossKind>().Order(), Vocabulary.LossWords.Select(w => w.Value).Order());
        Assert.Equal(Enum.GetValues<SignMode>().Order(), Vocabulary.SignModeWords.Select(w => w.Value).Order());
        Assert.Equal(Enum.GetValues<BlockSelector>().Order(), Vocabulary.BlockWords.Select(w => w.Value).Order());
        string path = Path.Combine(_dir, "e.json");
        File.WriteAllText(path, """
            { "Loss": "logistic", "Model": { "Depth": 2 },
              "Optimizer": { "SignMode": "exact", "Blocks": [ { "Block": "output", "Name": "signgd", "SignMode": "exact" }, { "Block": "matrices", "Name": "ngd" } ] } }
            """);
        ExperimentSettings s = ExperimentLoader.Load(path, [], useEnvironment: false);
        OptimizerSettings o = Assert.Single(s.Optimizers);
        Assert.Equal(LossKind.Logistic, s.Loss);
        Assert.Equal(SignMode.Exact, o.Blocks[0].Optimizer.SignMode);
        Assert.Equal([BlockSelector.Output, BlockSelector.Matrices], o.Blocks.Select(b => b.Block));
        Assert.Equal("signgd@output+ngd@matrices", o.Label);
        System.Text.Json.Nodes.JsonNode config = Outputs.ResolvedConfig.ToJson(s, o, 1);
        Assert.Equal("logistic", config["Loss"]!.GetValue<string>());
        Assert.Equal("exact", config["Optimizer"]!["Blocks"]![0]!["SignMode"]!.GetValue<string>());
        Assert.Equal("matrices", config["Optimizer"]!["Blocks"]![1]!["Block"]!.GetValue<string>());
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
