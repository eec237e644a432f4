using ImplicitBias.Flow.Flows.Schedules;

namespace ImplicitBias.Flow.Flows.Optimizers.Definitions;

/// <summary>Muon-Adam (Theorem 3.7): Muon with η0ᴹ and rate cM on the matrices, Adam with η0ᴬ on the output row.</summary>
public static class MuonAdam
{
    /// <summary>The definition of 'muon-adam'.</summary>
    public static OptimizerDefinition Definition { get; } = new()
    {
        Name = "muon-adam",
        Summary = "Muon (η0ᴹ = MuonEta0, rate MuonC) on the matrices, Adam (η0ᴬ = AdamEta0) on the output row (Theorem 3.7).",
        Moments = FlowMoments.First | FlowMoments.Second,
        OwnNorm = OwnNormKind.Msp, // the composite's own norm is built from its parts' (ObservedFlow.OwnNorm)
        Family = OptimizerFamily.Adam,
        Schedule = ScheduleAssumption.Adam,
        DefaultEta0 = 5e-2,
        NeedsMatrices = true,
        DefaultMethod = "tsit5",
        Composite = (spec, layout) =>
        {
            int matrices = layout.Blocks.Count - 1;
            return
            [
                Muon.Definition.Part(spec with { Eta0 = spec.MuonEta0 ?? spec.Eta0, C1 = spec.MuonC ?? spec.C1 }, 0, matrices),
                Adam.Definition.Part(spec with { Eta0 = spec.AdamEta0 ?? spec.Eta0 }, matrices, 1),
            ];
        },
    };
}
