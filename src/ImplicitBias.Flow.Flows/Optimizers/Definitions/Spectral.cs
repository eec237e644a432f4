using ImplicitBias.Flow.Flows.Schedules;

namespace ImplicitBias.Flow.Flows.Optimizers.Definitions;

/// <summary>SpectralGD: dθ/dt = −η U Vᵀ of g per matrix, steepest descent in msp.</summary>
public static class Spectral
{
    /// <summary>The definition of 'spectral'.</summary>
    public static OptimizerDefinition Definition { get; } = new()
    {
        Name = "spectral",
        Aliases = ["spectral-gd"],
        Summary = "SpectralGD: dθ/dt = −η U Vᵀ of g per matrix, steepest descent in msp.",
        Source = UpdateSource.Gradient,
        Geometry = UpdateGeometry.Polar,
        Moments = FlowMoments.None,
        OwnNorm = OwnNormKind.Msp,
        Family = OptimizerFamily.SteepestDescent,
        Schedule = ScheduleAssumption.Nsd,
        DefaultEta0 = 8e-2,
        NeedsMatrices = true,
        DefaultMethod = "tsit5",
        MethodPrecedence = 1,
    };
}
