using ImplicitBias.Flow.Flows.Schedules;

namespace ImplicitBias.Flow.Flows.Optimizers.Definitions;

/// <summary>Normalized momentum GD: dθ/dt = −η m/‖m‖₂ (Eq. 6), momentum steepest descent in ℓ2.</summary>
public static class NMomentum
{
    /// <summary>The definition of 'nmomentum'.</summary>
    public static OptimizerDefinition Definition { get; } = new()
    {
        Name = "nmomentum",
        Aliases = ["normalized-momentum"],
        Summary = "Normalized momentum GD: dθ/dt = −η m/‖m‖₂ (Eq. 6), momentum steepest descent in ℓ2.",
        Source = UpdateSource.Momentum,
        Geometry = UpdateGeometry.L2,
        Moments = FlowMoments.First,
        OwnNorm = OwnNormKind.L2,
        Family = OptimizerFamily.MomentumSteepestDescent,
        Schedule = ScheduleAssumption.Msd,
        DefaultEta0 = 0.3,
        DefaultEta0ByActivation = new Dictionary<string, double> { ["relu"] = 0.8 },
        DefaultMethod = "bs3",
        ThetaAbsTolFactor = 0.1,
    };
}
