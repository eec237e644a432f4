using ImplicitBias.Flow.Core.Parameters;

namespace ImplicitBias.Flow.Flows.Optimizers;

/// <summary>The hyper-parameters of one named optimizer (the flow's counterpart of an experiment's Optimizer section).</summary>
/// <param name="Name">gd, ngd, signgd, momentum, nmomentum, signum, spectral, muon, muon-signum, adam or muon-adam.</param>
/// <param name="Eta0">η0.</param>
/// <param name="C1">Momentum rate c1 = −log β1.</param>
/// <param name="C2">Second-moment rate c2 = −log β2.</param>
/// <param name="Epsilon">Adam's ε.</param>
/// <param name="SignWidth">Relative width of the smoothed sign.</param>
/// <param name="SignMode">Smoothed or exact sign.</param>
/// <param name="MuonEta0">Muon-Adam: η0ᴹ of the matrices (defaults to <paramref name="Eta0"/>).</param>
/// <param name="AdamEta0">Muon-Adam: η0ᴬ of the output row (defaults to <paramref name="Eta0"/>).</param>
/// <param name="MuonC">Muon-Adam: momentum rate cM of the matrices (defaults to <paramref name="C1"/>).</param>
public sealed record OptimizerSpec(
    string Name,
    double Eta0,
    double C1 = 0.10536051565782628,
    double C2 = 0.0010005003335835335,
    double Epsilon = 0,
    double SignWidth = 1e-3,
    SignMode SignMode = SignMode.Smooth,
    double? MuonEta0 = null,
    double? AdamEta0 = null,
    double? MuonC = null);

/// <summary>Turns named optimizers (docs/mathematics.md §2 table) and per-block composites into <see cref="OptimizerPart"/>s.</summary>
public static class OptimizerCatalog
{
    /// <summary>Every optimizer name.</summary>
    public static readonly IReadOnlyList<string> Names = ["gd", "ngd", "signgd", "momentum", "nmomentum", "signum", "spectral", "muon", "muon-signum", "adam", "muon-adam"];

    /// <summary>The parts of a named optimizer on a network with the given layout.</summary>
    public static IReadOnlyList<OptimizerPart> Parts(OptimizerSpec spec, ParameterLayout layout)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(layout);
        int blocks = layout.Blocks.Count;
        int matrices = blocks - 1;
        switch (spec.Name)
        {
            case "muon-signum":
                RequireMatrices(spec.Name, matrices);

                // Sec. 5: Muon on the matrices, Signum on the output row, one η(t) — steepest descent for max{‖W‖msp, ‖u‖∞}.
                return [Single("muon", spec, 0, matrices), Single("signum", spec, matrices, 1)];
            case "muon-adam":
                RequireMatrices(spec.Name, matrices);

                // Thm 3.7: Muon with η0ᴹ and rate cM on the matrices, Adam with η0ᴬ on u.
                return
                [
                    Single("muon", spec with { Eta0 = spec.MuonEta0 ?? spec.Eta0, C1 = spec.MuonC ?? spec.C1 }, 0, matrices),
                    Single("adam", spec with { Eta0 = spec.AdamEta0 ?? spec.Eta0 }, matrices, 1),
                ];
            default:
                if (spec.Name is "spectral" or "muon")
                {
                    RequireMatrices(spec.Name, matrices);
                }

                return [Single(spec.Name, spec, 0, blocks)];
        }
    }

    /// <summary>
    /// A per-block composite: <paramref name="matrices"/> acts on W_1 … W_{D−1}, <paramref name="output"/> on the
    /// output row. Either may be null, in which case <paramref name="fallback"/> covers those blocks.
    /// </summary>
    public static IReadOnlyList<OptimizerPart> Composite(OptimizerSpec? matrices, OptimizerSpec? output, OptimizerSpec fallback, ParameterLayout layout)
    {
        ArgumentNullException.ThrowIfNull(fallback);
        ArgumentNullException.ThrowIfNull(layout);
        int m = layout.Blocks.Count - 1;
        RequireMatrices("a per-block composite", m);
        OptimizerSpec a = matrices ?? fallback, b = output ?? fallback;
        foreach (OptimizerSpec s in new[] { a, b })
        {
            if (s.Name is "muon-signum" or "muon-adam")
            {
                throw new ArgumentException($"'{s.Name}' is itself a composite; name its parts per block instead.");
            }
        }

        return [Single(a.Name, a, 0, m), Single(b.Name, b, m, 1)];
    }

    private static OptimizerPart Single(string name, OptimizerSpec s, int first, int count)
    {
        (UpdateSource source, UpdateGeometry geometry) = name switch
        {
            "gd" => (UpdateSource.Gradient, UpdateGeometry.Raw),
            "ngd" => (UpdateSource.Gradient, UpdateGeometry.L2),
            "signgd" => (UpdateSource.Gradient, UpdateGeometry.Sign),
            "spectral" => (UpdateSource.Gradient, UpdateGeometry.Polar),
            "momentum" => (UpdateSource.Momentum, UpdateGeometry.Raw),
            "nmomentum" => (UpdateSource.Momentum, UpdateGeometry.L2),
            "signum" => (UpdateSource.Momentum, UpdateGeometry.Sign),
            "muon" => (UpdateSource.Momentum, UpdateGeometry.Polar),
            "adam" => (UpdateSource.Adam, UpdateGeometry.AdamRatio),
            _ => throw new ArgumentException($"Unknown optimizer '{name}'; known: {string.Join(", ", Names)}."),
        };
        return new OptimizerPart(name, first, count, source, geometry, s.Eta0, s.C1, s.C2, s.Epsilon, s.SignWidth, s.SignMode);
    }

    private static void RequireMatrices(string name, int matrices)
    {
        if (matrices < 1)
        {
            throw new ArgumentException($"'{name}' needs weight matrices; a linear predictor (depth 1) has none.");
        }
    }
}
