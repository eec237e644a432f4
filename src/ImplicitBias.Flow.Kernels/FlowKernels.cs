using ILGPU;

namespace ImplicitBias.Flow.Kernels;

/// <summary>
/// Element-wise kernels of <see cref="DeviceOptimizerFlow"/>: the directions of docs/mathematics.md §2 (the device forms of
/// <c>Directions</c> in the Flows project), the m̃/ṽ sources and the inputs of the reductions. Each kernel
/// applies the products in the order the host spans do (e.g. (s · 1/‖s‖) · (−η), never s · (−η/‖s‖)), so the
/// two agree to rounding.
/// </summary>
internal static class FlowKernels
{
    /// <summary>d[i] = (s[i] · a) · b; d may alias s.</summary>
    public static void Scale(Index1D i, ArrayView<double> s, ArrayView<double> d, double a, double b) => d[i] = s[i] * a * b;

    /// <summary>d[i] = value (clearing a direction, or NaN for a source that is not finite).</summary>
    public static void Fill(Index1D i, ArrayView<double> d, double value) => d[i] = value;

    /// <summary>d[i] = sign(s[i]) · (−η), 0 at 0; NaN stays NaN (the host's Math.Sign throws on NaN).</summary>
    public static void ExactSign(Index1D i, ArrayView<double> s, ArrayView<double> d, double minusEta)
    {
        double x = s[i];
        double sign = x > 0 ? 1.0 : (x < 0 ? -1.0 : (x == 0 ? 0.0 : x)); // NaN → NaN
        d[i] = sign * minusEta;
    }

    /// <summary>
    /// d[i] = r/√(r² + 1) · (−η) with r = s[i]/δ: the smoothed sign s/√(s² + δ²) written so it cannot overflow
    /// (Directions.Sign, smooth mode).
    /// </summary>
    public static void SmoothSign(Index1D i, ArrayView<double> s, ArrayView<double> d, double inverseDelta, double minusEta)
    {
        double r = s[i] * inverseDelta;
        d[i] = r / Math.Sqrt((r * r) + 1) * minusEta;
    }

    /// <summary>
    /// Adam's ratio m̂/(√v̂ + ε) · (−η) on the scaled states (Eq. 8, Directions.AdamRatio for t &gt; 0): m̂ = m̃ /
    /// (1 − e^{−c1 t}), v̂ = max(ṽ, 0) / (1 − e^{−c2 t}), ε already scaled by e^{−σ}; 0 where the denominator is 0.
    /// </summary>
    public static void AdamRatio(
        Index1D i, ArrayView<double> m, ArrayView<double> v, ArrayView<double> d,
        double inverseBias1, double inverseBias2, double scaledEpsilon, double minusEta)
    {
        double mHat = m[i] * inverseBias1;
        double vi = v[i];
        double clipped = vi < 0 ? 0.0 : vi; // Math.Max(v, 0): NaN stays NaN
        double denominator = Math.Sqrt(clipped * inverseBias2) + scaledEpsilon;
        double ratio = denominator > 0 ? mHat / denominator : 0.0;
        d[i] = ratio * minusEta;
    }

    /// <summary>
    /// dm̃[i] = m̃[i] · (−σ′) + ∇log L[i] · c1 e^{ℓ−σ}: the nonlinear part of the m̃ block (OptimizerFlow remarks).
    /// </summary>
    public static void MomentumSource(Index1D i, ArrayView<double> g, ArrayView<double> m, ArrayView<double> mDot, double c1Ratio, double minusSigmaDot)
    {
        double gain = g[i] * c1Ratio;
        mDot[i] = (m[i] * minusSigmaDot) + gain;
    }

    /// <summary>dṽ[i] = ṽ[i] · (−2σ′) + (∇log L[i])² · c2 e^{2(ℓ−σ)}: the nonlinear part of the ṽ block.</summary>
    public static void SecondMomentSource(Index1D i, ArrayView<double> g, ArrayView<double> v, ArrayView<double> vDot, double c2Ratio2, double minusTwoSigmaDot)
    {
        double gain = g[i] * g[i] * c2Ratio2;
        vDot[i] = (v[i] * minusTwoSigmaDot) + gain;
    }

    /// <summary>
    /// terms[i] = |s[i]|, input of a max reduction. NaN becomes +∞: ILGPU's atomic max spins forever on NaN
    /// (README), and +∞ leads to the same outcome as the host's NaN (δ or the max not finite, or not zero).
    /// </summary>
    public static void AbsoluteValue(Index1D i, ArrayView<double> s, ArrayView<double> terms)
    {
        double x = s[i];
        terms[i] = double.IsNaN(x) ? double.PositiveInfinity : (x < 0 ? -x : x);
    }

    /// <summary>terms[i] = s[i]², input of a sum reduction; NaN becomes +∞ (see <see cref="AbsoluteValue"/>).</summary>
    public static void Square(Index1D i, ArrayView<double> s, ArrayView<double> terms)
    {
        double x = s[i];
        terms[i] = double.IsNaN(x) ? double.PositiveInfinity : x * x;
    }

    /// <summary>
    /// terms[i] = a[i] b[i] and flags[i] = 0, or terms[i] = 0 and flags[i] = 1 when the product is not finite or
    /// exceeds 1e300 in magnitude. Products of either sign are summed, so a NaN or opposite infinities could
    /// otherwise arise inside ILGPU's atomic add and hang it; below 1e300 no partial sum of fewer than 1e8 terms
    /// can overflow.
    /// </summary>
    public static void DotTerms(Index1D i, ArrayView<double> a, ArrayView<double> b, ArrayView<double> terms, ArrayView<double> flags)
    {
        double p = a[i] * b[i];
        bool bad = !(p <= 1e300 && p >= -1e300);
        terms[i] = bad ? 0.0 : p;
        flags[i] = bad ? 1.0 : 0.0;
    }
}
