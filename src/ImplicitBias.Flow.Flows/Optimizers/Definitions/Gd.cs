using ImplicitBias.Flow.Flows.Schedules;

namespace ImplicitBias.Flow.Flows.Optimizers.Definitions;

/// <summary>Gradient descent: dθ/dt = −η g (Eq. 2), the ℓ2 geometry unnormalized.</summary>
public static class Gd
{
    /// <summary>The definition of 'gd'.</summary>
    public static OptimizerDefinition Definition { get; } = new()
    {
        Name = "gd",
        Aliases = ["gradient-descent"],
        Summary = "Gradient descent: dθ/dt = −η g (Eq. 2), the ℓ2 geometry unnormalized.",
        Source = UpdateSource.Gradient,
        Geometry = UpdateGeometry.Raw,
        Moments = FlowMoments.None,
        Preconditioner = PreconditionerKind.Identity,
        OwnNorm = OwnNormKind.L2,
        Family = OptimizerFamily.GradientFlow,
        Schedule = ScheduleAssumption.None,
        DefaultEta0 = 1.5,
        DefaultMethod = "dopri5+ros34pw2",
    };
}
