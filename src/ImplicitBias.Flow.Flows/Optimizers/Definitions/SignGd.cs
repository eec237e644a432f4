using ImplicitBias.Flow.Flows.Schedules;

namespace ImplicitBias.Flow.Flows.Optimizers.Definitions;

/// <summary>SignGD: dθ/dt = −η sign(g), steepest descent in ℓ∞.</summary>
public static class SignGd
{
    /// <summary>The definition of 'signgd'.</summary>
    public static OptimizerDefinition Definition { get; } = new()
    {
        Name = "signgd",
        Aliases = ["sign-gd"],
        Summary = "SignGD: dθ/dt = −η sign(g), steepest descent in ℓ∞.",
        Source = UpdateSource.Gradient,
        Geometry = UpdateGeometry.Sign,
        Moments = FlowMoments.None,
        OwnNorm = OwnNormKind.LInf,
        Family = OptimizerFamily.SteepestDescent,
        Schedule = ScheduleAssumption.Nsd,
        DefaultEta0 = 3e-3,
        DefaultMethod = "dopri5+ros34pw2",
    };
}
