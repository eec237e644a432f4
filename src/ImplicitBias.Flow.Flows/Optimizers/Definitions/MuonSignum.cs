using ImplicitBias.Flow.Flows.Schedules;

namespace ImplicitBias.Flow.Flows.Optimizers.Definitions;

/// <summary>Muon-Signum (Sec. 5): Muon on the matrices, Signum on the output row, one η(t).</summary>
public static class MuonSignum
{
    /// <summary>The definition of 'muon-signum'.</summary>
    public static OptimizerDefinition Definition { get; } = new()
    {
        Name = "muon-signum",
        Summary = "Muon on the matrices, Signum on the output row, one η(t): steepest descent for max{‖W‖msp, ‖u‖∞} (Sec. 5).",
        Moments = FlowMoments.First,
        OwnNorm = OwnNormKind.Msp, // the composite's own norm is built from its parts' (ObservedFlow.OwnNorm)
        Family = OptimizerFamily.MomentumSteepestDescent,
        Schedule = ScheduleAssumption.Msd,
        DefaultEta0 = 5e-2,
        NeedsMatrices = true,
        DefaultMethod = "tsit5",
        Composite = (spec, layout) =>
        {
            int matrices = layout.Blocks.Count - 1;
            return [Muon.Definition.Part(spec, 0, matrices), Signum.Definition.Part(spec, matrices, 1)];
        },
    };
}
