using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Flows.Schedules;

namespace ImplicitBias.Flow.Flows.Tests;

/// <summary>The optimizer definitions: complete, consistent with the flows they build, and open to registration.</summary>
public sealed class OptimizerRegistryTests
{
    private static readonly ParameterLayout TwoLayers = new([new ParameterBlock("W1", 3, 2, IsMatrix: true), new ParameterBlock("u", 1, 3, IsMatrix: false)]);

    [Fact]
    public void EveryDefinition_BuildsPartsThatCoverTheLayout_WithItsStepper()
    {
        foreach (OptimizerDefinition d in OptimizerRegistry.All)
        {
            IReadOnlyList<OptimizerPart> parts = d.Parts(new OptimizerSpec(d.Name, 0.1), TwoLayers);
            Assert.Equal(TwoLayers.Blocks.Count, parts.Sum(p => p.BlockCount));
            Assert.Equal(d.DefaultMethod, FlowSolver.DefaultMethodName(parts.Select(p => p.Definition).ToArray()));
            Assert.Equal(d.Composite is not null, parts.Any(p => p.Definition != d));
        }
    }

    [Fact]
    public void CompositeStepper_FollowsTheMeasuredRule()
    {
        string Method(params string[] names) => FlowSolver.DefaultMethodName(names.Select(OptimizerRegistry.Get).ToArray());
        Assert.Equal("etdrk4", Method("momentum", "muon"));  // the stiff momentum decay binds
        Assert.Equal("tsit5", Method("muon", "adam"));       // Muon-Adam
        Assert.Equal("dopri5", Method("adam", "ngd"));       // parts disagree, none binds
        Assert.Equal("dopri5", Method("nmomentum", "ngd"));
        Assert.Equal("etdrk4", Method("adam", "adam"));
    }

    [Fact]
    public void Register_RejectsATakenNameAndAnIncompleteDefinition()
    {
        OptimizerDefinition ngd = OptimizerRegistry.Get("ngd");
        Assert.Throws<ArgumentException>(() => OptimizerRegistry.Register(ngd with { Aliases = [] }));
        Assert.Throws<ArgumentException>(() => OptimizerRegistry.Register(ngd with { Name = "ngd-copy", Aliases = [], Geometry = UpdateGeometry.Defined }));
        Assert.Throws<ArgumentException>(() => OptimizerRegistry.Register(ngd with { Name = "ngd-copy", Aliases = [], DefaultMethod = "no-such-stepper" }));
        Assert.Throws<ArgumentException>(() => OptimizerRegistry.Register(ngd with { Name = "ngd-copy", Aliases = [], Source = UpdateSource.Momentum }));
        Assert.Null(OptimizerRegistry.Find("ngd-copy"));
        Assert.Same(ngd, OptimizerRegistry.Find("Normalized-GD"));
        Assert.Equal(ScheduleAssumption.Nsd, ngd.Schedule);
    }
}
