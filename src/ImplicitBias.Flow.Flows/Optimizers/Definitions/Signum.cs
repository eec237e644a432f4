using ImplicitBias.Flow.Flows.Schedules;

namespace ImplicitBias.Flow.Flows.Optimizers.Definitions;

/// <summary>Signum: dθ/dt = −η sign(m), momentum steepest descent in ℓ∞.</summary>
public static class Signum
{
    /// <summary>The definition of 'signum'.</summary>
    public static OptimizerDefinition Definition { get; } = new()
    {
        Name = "signum",
        Summary = "Signum: dθ/dt = −η sign(m), momentum steepest descent in ℓ∞.",
        Source = UpdateSource.Momentum,
        Geometry = UpdateGeometry.Sign,
        Moments = FlowMoments.First,
        OwnNorm = OwnNormKind.LInf,
        Family = OptimizerFamily.MomentumSteepestDescent,
        Schedule = ScheduleAssumption.Msd,
        DefaultEta0 = 3e-3,
        DefaultEta0ByActivation = new Dictionary<string, double> { ["relu"] = 5e-3 },
        DefaultMethod = "dopri5",
    };
}
