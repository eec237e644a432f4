using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.Outputs;
using ImplicitBias.Flow.Experiments.Running;

namespace ImplicitBias.Flow.Experiments.Tests;

/// <summary>Solver:JacobianModelRank: read, checked in one line, written to config.json, and given to the flow.</summary>
public sealed class JacobianModelSettingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-jacobian-model-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string optimizer, string solver)
    {
        string path = Path.Combine(_dir, "exp.json");
        File.WriteAllText(path, $$"""
        {
          "Data": { "Kind": "gaussian", "Samples": 40, "Dimension": 6, "Seed": 2 },
          "Model": { "Depth": 2, "Width": 5, "Activation": "relu-q" },
          "Optimizer": { "Name": "{{optimizer}}" },
          "Solver": {{solver}}
        }
        """);
        return path;
    }

    [Fact]
    public void Default_IsNoModel_AndAGivenRankReachesTheFlowAndConfigJson()
    {
        ExperimentSettings none = ExperimentLoader.Load(Write("ngd", "{}"), [], useEnvironment: false);
        Assert.Equal(0, none.Solver.JacobianModelRank);
        ExperimentSettings s = ExperimentLoader.Load(Write("normalized-gd", """{ "Backend": "cpu", "JacobianModelRank": 12 }"""), [], useEnvironment: false);
        Assert.Equal(12, s.Solver.JacobianModelRank);
        Assert.Equal(12, ResolvedConfig.ToJson(s, s.Optimizers[0], s.Seeds[0])["Solver"]!["JacobianModelRank"]!.GetValue<int>());
        using FlowSession session = FlowSession.Open(s, null, s.Optimizers[0], s.Seeds[0], null, serial: true);
        Assert.Equal(12, session.Flow.JacobianModelRank);
    }

    [Theory]
    [InlineData("signgd", """{ "JacobianModelRank": 8 }""", "ngd only (here signgd)")]
    [InlineData("ngd", """{ "Backend": "ilgpu-cpu", "JacobianModelRank": 8 }""", "cpu backend only")]
    [InlineData("ngd", """{ "JacobianModelRank": 201 }""", "[0, 200]")]
    [InlineData("ngd", """{ "JacobianModelRank": "many" }""", "whole number")]
    public void UnusableValue_IsAOneLineErrorNamingTheKey(string optimizer, string solver, string allowed)
    {
        string path = Write(optimizer, solver);
        ExperimentException e = Assert.Throws<ExperimentException>(() => ExperimentLoader.Load(path, [], useEnvironment: false));
        Assert.Equal("Solver:JacobianModelRank", e.Key);
        Assert.Contains(allowed, e.Message, StringComparison.Ordinal);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }
}
