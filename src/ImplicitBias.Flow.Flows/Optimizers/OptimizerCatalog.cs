using ImplicitBias.Flow.Core.Parameters;

namespace ImplicitBias.Flow.Flows.Optimizers;

/// <summary>The hyper-parameters of one named optimizer (the flow's counterpart of an experiment's Optimizer section).</summary>
/// <param name="Name">A name of <see cref="OptimizerRegistry"/> (gd, ngd, signgd, momentum, nmomentum, signum, spectral, muon, muon-signum, adam, muon-adam, …).</param>
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

/// <summary>Turns named optimizers (<see cref="OptimizerRegistry"/>) and per-block composites into <see cref="OptimizerPart"/>s.</summary>
public static class OptimizerCatalog
{
    /// <summary>Every optimizer name (<see cref="OptimizerRegistry.Names"/>).</summary>
    public static IReadOnlyList<string> Names => OptimizerRegistry.Names;

    /// <summary>The parts of a named optimizer on a network with the given layout.</summary>
    public static IReadOnlyList<OptimizerPart> Parts(OptimizerSpec spec, ParameterLayout layout)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return OptimizerRegistry.Get(spec.Name).Parts(spec, layout);
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
        if (m < 1)
        {
            throw new ArgumentException("'a per-block composite' needs weight matrices; a linear predictor (depth 1) has none.");
        }

        OptimizerSpec a = matrices ?? fallback, b = output ?? fallback;
        return [OptimizerRegistry.Get(a.Name).Part(a, 0, m), OptimizerRegistry.Get(b.Name).Part(b, m, 1)];
    }
}
