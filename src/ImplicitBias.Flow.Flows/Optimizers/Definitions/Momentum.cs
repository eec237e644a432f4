using ImplicitBias.Flow.Flows.Schedules;

namespace ImplicitBias.Flow.Flows.Optimizers.Definitions;

/// <summary>Momentum GD: dθ/dt = −η m, dm/dt = c1 (g − m) (Eqs. 4–5).</summary>
public static class Momentum
{
    /// <summary>The definition of 'momentum'.</summary>
    public static OptimizerDefinition Definition { get; } = new()
    {
        Name = "momentum",
        Aliases = ["momentum-gd"],
        Summary = "Momentum GD: dθ/dt = −η m, dm/dt = c1 (g − m) (Eqs. 4–5).",
        Source = UpdateSource.Momentum,
        Geometry = UpdateGeometry.Raw,
        Moments = FlowMoments.First,
        Preconditioner = PreconditionerKind.Identity,
        OwnNorm = OwnNormKind.L2,
        Family = OptimizerFamily.GradientFlow,
        Schedule = ScheduleAssumption.None,
        DefaultEta0 = 0.3,
        DefaultMethod = "etdrk4",

        // The momentum decay makes this flow stiff once it is slow; that binds any composite it is in (STEPPERS.md).
        MethodPrecedence = 2,
    };
}
