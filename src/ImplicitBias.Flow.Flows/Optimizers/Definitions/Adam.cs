using ImplicitBias.Flow.Flows.Schedules;

namespace ImplicitBias.Flow.Flows.Optimizers.Definitions;

/// <summary>Adam: dθ/dt = −η m̂/(√v̂ + ε) with bias-corrected moments (Eqs. 7–8); ℓ∞ in the limit.</summary>
public static class Adam
{
    /// <summary>The definition of 'adam'.</summary>
    public static OptimizerDefinition Definition { get; } = new()
    {
        Name = "adam",
        Summary = "Adam: dθ/dt = −η m̂/(√v̂ + ε) with bias-corrected moments (Eqs. 7–8); ℓ∞ in the limit.",
        Source = UpdateSource.Adam,
        Geometry = UpdateGeometry.AdamRatio,
        Moments = FlowMoments.First | FlowMoments.Second,
        Preconditioner = PreconditionerKind.AdamDiagonal,
        OwnNorm = OwnNormKind.LInf,
        Family = OptimizerFamily.Adam,
        Schedule = ScheduleAssumption.Adam,
        DefaultEta0 = 5e-3,
        DefaultEta0ByActivation = new Dictionary<string, double> { ["relu"] = 6e-3 },
        // ETDRK4 through the initial transient, then ETDRK4 and the Rosenbrock-W method by measured flow time per
        // evaluation (Flows/STEPPERS.md, "Adam's m̃ weighed against √ṽ in W": the probe 38,587 → 14,840 evaluations,
        // the paper's setting 323,145 → 70,125).
        DefaultMethod = "etdrk4+ros34pw2",
    };
}
