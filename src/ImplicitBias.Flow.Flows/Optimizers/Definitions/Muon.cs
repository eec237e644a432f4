using ImplicitBias.Flow.Flows.Schedules;

namespace ImplicitBias.Flow.Flows.Optimizers.Definitions;

/// <summary>Muon: dθ/dt = −η U Vᵀ of m per matrix, momentum steepest descent in msp.</summary>
public static class Muon
{
    /// <summary>The definition of 'muon'.</summary>
    public static OptimizerDefinition Definition { get; } = new()
    {
        Name = "muon",
        Summary = "Muon: dθ/dt = −η U Vᵀ of m per matrix, momentum steepest descent in msp.",
        Source = UpdateSource.Momentum,
        Geometry = UpdateGeometry.Polar,
        Moments = FlowMoments.First,
        OwnNorm = OwnNormKind.Msp,
        Family = OptimizerFamily.MomentumSteepestDescent,
        Schedule = ScheduleAssumption.Msd,
        DefaultEta0 = 8e-2,
        DefaultEta0ByActivation = new Dictionary<string, double> { ["relu"] = 0.2 },
        NeedsMatrices = true,
        DefaultMethod = "tsit5",
        MethodPrecedence = 1,
    };
}
