namespace ImplicitBias.Flow.Analysis.Verification;

/// <summary>How a measured quantity compares with the paper's prediction at the end of a finite run.</summary>
public enum Verdict
{
    /// <summary>Within the tolerance of the predicted limit or bound.</summary>
    Holds,

    /// <summary>Outside the tolerance but approaching it over the last decade of t.</summary>
    NotYetConverged,

    /// <summary>Outside the tolerance and not approaching it (or a property that admits no slack is broken).</summary>
    Violated,
}


/// <summary>One prediction checked against a run.</summary>
/// <param name="Quantity">What is measured (the observer's column or a description).</param>
/// <param name="Reference">Where the paper states it (e.g. "Lemma C.10").</param>
/// <param name="Predicted">The predicted limit or bound, as text (e.g. "→ 1", "≤ 1").</param>
/// <param name="Measured">The value at the end of the run (or over the window the prediction is about).</param>
/// <param name="Trend">Slope of log |value − predicted| against log t over the last decade of t (negative:
/// approaching); NaN where it does not apply.</param>
/// <param name="Verdict">Holds, not yet converged, or violated.</param>
/// <param name="Tolerance">The tolerance the verdict used.</param>
/// <param name="Extra">Further numbers (e.g. the KKT ε in every norm).</param>
public sealed record PredictionRow(
    string Quantity,
    string Reference,
    string Predicted,
    double Measured,
    double Trend,
    Verdict Verdict,
    double Tolerance,
    IReadOnlyDictionary<string, double>? Extra = null);

/// <summary>Tolerances and switches of <see cref="PredictionChecks"/>.</summary>
/// <param name="LimitTolerance">|value − limit| allowed for the ratios that tend to 1 (Lemma C.10, Lemma C.19, Def 5.1).</param>
/// <param name="GapTolerance">Allowed size of the direction gaps of Lemma C.19 that tend to 0.</param>
/// <param name="BoundTolerance">Excess allowed over the bound ‖θ − θ0‖∞/∫η ≤ 1 (Lemma B.10).</param>
/// <param name="AlignmentTolerance">1 − alignment allowed.</param>
/// <param name="CosineThreshold">Smallest cosine to the last iterate over the second half (Fig. 1b).</param>
/// <param name="KktTolerance">ε/‖θ̃‖₂ allowed in the optimizer's own norm (Definition C.4).</param>
/// <param name="KktMarginSlack">Only samples with q_i(θ̃) ≤ 1 + slack get a multiplier λ_i (∞: all samples).
/// Samples far from the minimum margin have λ_i = 0 at an exact KKT point (complementary slackness), and
/// dropping them shrinks the active-set problem from m to the near-support samples.</param>
/// <param name="Kkt">Whether to compute the KKT certificates at all.</param>
public sealed record VerifyOptions(
    double LimitTolerance = 0.02,
    double GapTolerance = 0.05,
    double BoundTolerance = 0.05,
    double AlignmentTolerance = 0.01,
    double CosineThreshold = 0.99,
    double KktTolerance = 0.05,
    double KktMarginSlack = double.PositiveInfinity,
    bool Kkt = true);
