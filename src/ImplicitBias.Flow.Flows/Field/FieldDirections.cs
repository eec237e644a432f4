using ImplicitBias.Flow.Core.Numerics;
using ImplicitBias.Flow.Flows.Optimizers;

namespace ImplicitBias.Flow.Flows.Field;

/// <summary>
/// The steepest directions of the optimizers (docs/mathematics.md §2), written once over <see cref="IFieldPrimitives{TIn, TOut}"/>:
/// each writes d = factor · direction(s), with factor = −η(t) in the flow and 1 for the bare direction
/// (<see cref="Directions"/>, which the discrete optimizer uses). The factor is applied after the direction, never
/// folded into it, so that every backend and caller gets the same bits.
/// </summary>
public static class FieldDirections
{
    /// <summary>d = (s/‖s‖₂) · factor (0 when s = 0 or ‖s‖₂ is not finite): the ℓ2 steepest direction of Eq. 3/6.</summary>
    public static void NormalizedL2<TIn, TOut, TPrimitives>(TPrimitives primitives, TIn s, TOut d, double factor)
        where TPrimitives : IFieldPrimitives<TIn, TOut>
        where TIn : struct, allows ref struct
        where TOut : struct, allows ref struct
    {
        double norm = primitives.Norm(s);
        if (norm == 0 || !double.IsFinite(norm))
        {
            primitives.Fill(d, 0.0);
            return;
        }

        primitives.Map(s, d, new ScaleOperator(1 / norm, factor));
    }

    /// <summary>
    /// d = sign(s) · factor exactly (0 at 0), or the smoothed sign s/√(s² + δ²) · factor with δ = width · max|s|, a
    /// width relative to the block's own scale so the smoothing means the same however the scale of s evolves.
    /// </summary>
    public static void Sign<TIn, TOut, TPrimitives>(TPrimitives primitives, TIn s, double width, SignMode mode, TOut d, double factor)
        where TPrimitives : IFieldPrimitives<TIn, TOut>
        where TIn : struct, allows ref struct
        where TOut : struct, allows ref struct
    {
        if (mode == SignMode.Exact)
        {
            primitives.Map(s, d, new SignOperator(factor));
            return;
        }

        double delta = width * primitives.MaxAbs(s);
        if (delta == 0 || !double.IsFinite(delta))
        {
            primitives.Fill(d, 0.0);
            return;
        }

        primitives.Map(s, d, new SmoothSignOperator(1 / delta, factor));
    }

    /// <summary>
    /// Adam's ratio m̂/(√v̂ + ε) · factor with m̂ = m/(1 − e^{−c1 t}), v̂ = v/(1 − e^{−c2 t}) (Eq. 8), on the scaled
    /// states m̃, ṽ with ε given already scaled (ε e^{−λ_v/2}). At t = 0 (m = v = 0) the ratio takes its t → 0⁺
    /// limit sign(g(0)) (docs/mathematics.md §2); a coordinate with v̂ = 0 and m̂ = 0 gets 0, never NaN.
    /// </summary>
    public static void AdamRatio<TIn, TOut, TPrimitives>(TPrimitives primitives, double t, TIn mScaled, TIn vScaled, TIn gradient, double c1, double c2, double scaledEpsilon, TOut d, double factor)
        where TPrimitives : IFieldPrimitives<TIn, TOut>
        where TIn : struct, allows ref struct
        where TOut : struct, allows ref struct
    {
        if (t <= 0)
        {
            primitives.Map(gradient, d, new SignOperator(factor));
            return;
        }

        double bias1 = -ScalarMath.ExpM1(-c1 * t);
        double bias2 = -ScalarMath.ExpM1(-c2 * t);
        primitives.Map(mScaled, vScaled, d, new AdamRatioOperator(1 / bias1, 1 / bias2, scaledEpsilon, factor));
    }

    /// <summary>
    /// d = U Vᵀ · factor for a rows × cols block (the Muon / SpectralGD direction); a 1 × k or k × 1 block (the
    /// output row) is a vector, whose polar factor is u/‖u‖₂ (Sec. 6).
    /// </summary>
    public static void Polar<TIn, TOut, TPrimitives>(TPrimitives primitives, int block, int rows, int cols, TIn s, TOut d, double factor)
        where TPrimitives : IFieldPrimitives<TIn, TOut>
        where TIn : struct, allows ref struct
        where TOut : struct, allows ref struct
    {
        if (rows == 1 || cols == 1)
        {
            NormalizedL2<TIn, TOut, TPrimitives>(primitives, s, d, factor);
            return;
        }

        primitives.Polar(block, s, d);
        primitives.Map(primitives.AsInput(d), d, new ScaleOperator(factor, 1.0));
    }
}
