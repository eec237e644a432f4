using ImplicitBias.Flow.Flows.Schedules;

namespace ImplicitBias.Flow.Flows.Optimizers.Definitions;

/// <summary>Normalized gradient descent: dθ/dt = −η g/‖g‖₂ (Eq. 3), steepest descent in ℓ2.</summary>
public static class Ngd
{
    /// <summary>The definition of 'ngd'.</summary>
    public static OptimizerDefinition Definition { get; } = new()
    {
        Name = "ngd",
        Aliases = ["normalized-gd"],
        Summary = "Normalized gradient descent: dθ/dt = −η g/‖g‖₂ (Eq. 3), steepest descent in ℓ2.",
        Source = UpdateSource.Gradient,
        Geometry = UpdateGeometry.L2,
        Moments = FlowMoments.None,
        Preconditioner = PreconditionerKind.GradientNorm,
        OwnNorm = OwnNormKind.L2,
        Family = OptimizerFamily.SteepestDescent,
        Schedule = ScheduleAssumption.Nsd,
        DefaultEta0 = 1.5,
        DefaultEta0ByActivation = new Dictionary<string, double> { ["relu"] = 2.0 },
        DefaultMethod = "dopri5+ros34pw2",
    };
}
