using System.Globalization;
using ImplicitBias.Flow.Analysis.Observers;
using ImplicitBias.Flow.Core.Geometry;
using ImplicitBias.Flow.Core.Parameters;

namespace ImplicitBias.Flow.Experiments.Reports;

/// <summary>
/// A composite norm of the paper, max{r ‖W‖msp, ‖u‖∞} (Muon-Adam with r = η0ᴬ/η0ᴹ, Theorem 3.7; Muon-Signum with
/// r = 1), evaluated on any run's final θ so that every optimizer's margin can be compared in it (Fig. 1a's last
/// panel). summary.json gives each run's margins in ℓ2, ℓ∞, msp and its own norm only; the margin in another norm N
/// follows from the ℓ2 one without the data, because q_min is the same number in every norm:
/// γ_N = q_min / ‖θ‖_N^L = γ_2 · (‖θ‖_2 / ‖θ‖_N)^L (Eq. 9), and likewise for the soft margin (Eq. 10).
/// </summary>
/// <param name="Optimizer">The composite optimizer whose norm this is (e.g. <c>muon-adam</c>).</param>
/// <param name="MatrixWeight">r, the weight of the matrices' msp norm.</param>
public sealed record CompositeMargin(string Optimizer, double MatrixWeight)
{
    /// <summary>The key of this norm in a run's margins, e.g. <c>muon-adam</c>.</summary>
    public string Key => Optimizer;

    /// <summary>The norm in the paper's words, e.g. <c>max{1·‖W‖msp, ‖u‖∞}</c>.</summary>
    public string Description => string.Create(CultureInfo.InvariantCulture, $"max{{{MatrixWeight:G4}·‖W‖msp, ‖u‖∞}}");

    /// <summary>
    /// The composite norms a group of runs asks for: one per composite optimizer present (its weight read from its
    /// runs' settings; the first run's weight where seeds differ, which a sweep never does).
    /// </summary>
    public static IReadOnlyList<CompositeMargin> In(IEnumerable<ReportRun> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        return runs.Where(r => double.IsFinite(r.CompositeMatrixWeight))
            .GroupBy(r => r.Optimizer, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new CompositeMargin(g.Key, g.First().CompositeMatrixWeight))
            .ToArray();
    }

    /// <summary>The final hard (or soft) margin of <paramref name="run"/> in this norm; NaN when θ or the ℓ2 margin is unknown.</summary>
    public double Of(ReportRun run, bool soft = false)
    {
        ArgumentNullException.ThrowIfNull(run);
        double l2Margin = (soft ? run.SoftMargins : run.Margins)[ObservedNorm.L2];
        if (run.ThetaFinal is not { } theta || !double.IsFinite(l2Margin) || run.Layout is not { } layout || layout.Length != theta.Length)
        {
            return double.NaN;
        }

        double l2 = Norms.L2.Value(theta), composite = Norm(layout).Value(theta);
        return composite > 0 ? l2Margin * Math.Pow(l2 / composite, run.Homogeneity) : double.NaN;
    }

    /// <summary>The norm on <paramref name="layout"/>: spectral norm weighted by r on every matrix, ℓ∞ on the output row.</summary>
    public BlockMaxNorm Norm(ParameterLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        Norm[] norms = layout.Blocks.Select(b => b.IsMatrix ? new SpectralNorm(b.Rows, b.Cols) : (Norm)Norms.LInf).ToArray();
        double[] weights = layout.Blocks.Select(b => b.IsMatrix ? MatrixWeight : 1.0).ToArray();
        return new BlockMaxNorm(layout, norms, weights, Key);
    }
}
