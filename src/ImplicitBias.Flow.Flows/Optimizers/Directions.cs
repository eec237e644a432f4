using System.Numerics.Tensors;
using ImplicitBias.Flow.Core.Numerics;

namespace ImplicitBias.Flow.Flows.Optimizers;

/// <summary>
/// The coordinatewise directions of the optimizers (docs/mathematics.md §2), as span kernels: inputs first, output last,
/// no allocation. Each writes the direction d whose negative times η is dθ/dt.
/// </summary>
public static class Directions
{
    /// <summary>d = s/‖s‖₂ (0 when s = 0): the ℓ2 steepest direction of Eq. 3/6.</summary>
    public static void NormalizedL2(ReadOnlySpan<double> s, Span<double> d)
    {
        double norm = TensorPrimitives.Norm(s);
        if (norm == 0 || !double.IsFinite(norm))
        {
            d.Clear();
            return;
        }

        TensorPrimitives.Multiply(s, 1 / norm, d);
    }

    /// <summary>
    /// d = sign(s) exactly (0 at 0), or the smoothed sign s/√(s² + δ²) with δ = width · max|s|, a width
    /// relative to the block's own scale so the smoothing means the same however the scale of s evolves.
    /// </summary>
    public static void Sign(ReadOnlySpan<double> s, double width, SignMode mode, Span<double> d)
    {
        if (mode == SignMode.Exact)
        {
            for (int i = 0; i < s.Length; i++)
            {
                d[i] = SignOf(s[i]);
            }

            return;
        }

        // MaxMagnitude returns the signed value of largest magnitude, hence Abs.
        double delta = width * Math.Abs(TensorPrimitives.MaxMagnitude(s));
        if (delta == 0 || !double.IsFinite(delta))
        {
            d.Clear();
            return;
        }

        double invDelta = 1 / delta;
        for (int i = 0; i < s.Length; i++)
        {
            // x/√(x² + δ²) written as r/√(r² + 1) with r = x/δ, which cannot overflow.
            double r = s[i] * invDelta;
            d[i] = r / Math.Sqrt((r * r) + 1);
        }
    }

    /// <summary>
    /// Adam's ratio m̂/(√v̂ + ε) with m̂ = m/(1 − e^{−c1 t}), v̂ = v/(1 − e^{−c2 t}) (Eq. 8). The states here are
    /// the scaled m̃ = m e^{−σ}, ṽ = v e^{−2σ}, so ε enters as ε e^{−σ}. At t = 0 (m = v = 0) the ratio takes
    /// its t → 0⁺ limit sign(g(0)) (docs/mathematics.md §2); a coordinate with v̂ = 0 and m̂ = 0 gets 0, never NaN.
    /// </summary>
    public static void AdamRatio(double t, ReadOnlySpan<double> mScaled, ReadOnlySpan<double> vScaled, ReadOnlySpan<double> gradient, double c1, double c2, double scaledEpsilon, Span<double> d)
    {
        if (t <= 0)
        {
            for (int i = 0; i < d.Length; i++)
            {
                d[i] = SignOf(gradient[i]);
            }

            return;
        }

        double bias1 = -ScalarMath.ExpM1(-c1 * t);
        double bias2 = -ScalarMath.ExpM1(-c2 * t);
        double inv1 = 1 / bias1, inv2 = 1 / bias2;
        for (int i = 0; i < d.Length; i++)
        {
            double mHat = mScaled[i] * inv1;
            double denominator = Math.Sqrt(Math.Max(vScaled[i], 0) * inv2) + scaledEpsilon;
            d[i] = denominator > 0 ? mHat / denominator : 0;
        }
    }

    /// <summary>sign(x) as −1, 0, 1, and NaN for NaN (a wild trial stage), so that the solver sees and rejects it.</summary>
    private static double SignOf(double x) => x > 0 ? 1 : x < 0 ? -1 : x == 0 ? 0 : double.NaN;
}
