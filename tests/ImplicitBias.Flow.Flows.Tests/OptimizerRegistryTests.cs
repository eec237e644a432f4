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
        Assert.Equal("etdrk4+ros34pw2", Method("adam", "adam"));
    }

    /// <summary>
    /// θ's absolute tolerance is the solver's times the definition's factor: 10× tighter for normalized momentum alone
    /// (measured against tight references at Table 1 on MNIST), the smallest factor in a composite; moments keep the
    /// solver's.
    /// </summary>
    [Fact]
    public void ThetaAbsoluteTolerance_IsTighterForNormalizedMomentumOnly()
    {
        var oracle = SmallNetworkOracle.Random(8, 3, 4, seed: 1);
        var tolerances = new FlowTolerances(1e-6, 1e-9);
        double ThetaAbsTol(params string[] names)
        {
            IReadOnlyList<OptimizerPart> parts = names.Length == 1
                ? OptimizerCatalog.Parts(new OptimizerSpec(names[0], 0.1), oracle.Layout)
                : [.. names.Select((n, i) => OptimizerCatalog.Parts(new OptimizerSpec(n, 0.1), oracle.Layout).Single() with { FirstBlock = i, BlockCount = 1 })];
            var flow = new OptimizerFlow(oracle, parts, power: 0.8, tolerances: tolerances);
            Assert.All(flow.Layout.Blocks.Where(b => b.Name != "theta"), b => Assert.Equal(1e-9, b.AbsTol));
            return flow.Layout.Blocks.Single(b => b.Name == "theta").AbsTol;
        }

        Assert.Equal(1e-10, ThetaAbsTol("nmomentum"), 1e-22);
        foreach (string name in new[] { "gd", "ngd", "signgd", "signum", "adam", "momentum", "muon", "muon-adam" })
        {
            Assert.Equal(1e-9, ThetaAbsTol(name));
        }

        Assert.Equal(1e-10, ThetaAbsTol("nmomentum", "ngd"), 1e-22);
        Assert.Throws<ArgumentException>(() => OptimizerRegistry.Register(OptimizerRegistry.Get("ngd") with { Name = "ngd-loose", Aliases = [], ThetaAbsTolFactor = 2 }));
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
