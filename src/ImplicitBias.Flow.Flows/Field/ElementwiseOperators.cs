using System.Runtime.Intrinsics;

namespace ImplicitBias.Flow.Flows.Field;

/// <summary>
/// An element-wise map d_i = f(x_i), as an operator struct in the System.Numerics.Tensors style: the backends call
/// it through a struct-constrained generic, so each map is compiled for its operator and there is no virtual call per
/// element. The host vectorizes with the Vector512/Vector256 forms (which must give the scalar form's bits, lane by
/// lane); an ILGPU kernel calls the scalar form only.
/// </summary>
public interface IElementwise
{
    /// <summary>f(x).</summary>
    double Invoke(double x);

    /// <summary>f on four lanes.</summary>
    Vector256<double> Invoke(Vector256<double> x);

    /// <summary>f on eight lanes.</summary>
    Vector512<double> Invoke(Vector512<double> x);
}

/// <summary>An element-wise map of two inputs, d_i = f(x_i, y_i) (see <see cref="IElementwise"/>).</summary>
public interface IElementwise2
{
    /// <summary>f(x, y).</summary>
    double Invoke(double x, double y);

    /// <summary>f on four lanes.</summary>
    Vector256<double> Invoke(Vector256<double> x, Vector256<double> y);

    /// <summary>f on eight lanes.</summary>
    Vector512<double> Invoke(Vector512<double> x, Vector512<double> y);
}

/// <summary>
/// d = (x · a) · b. The two products stay apart (never x · (a b)), so a direction scaled by its norm and then by −η
/// has the same bits on every backend.
/// </summary>
/// <param name="A">The first factor.</param>
/// <param name="B">The second factor.</param>
public readonly record struct ScaleOperator(double A, double B) : IElementwise
{
    /// <inheritdoc/>
    public double Invoke(double x) => x * A * B;

    /// <inheritdoc/>
    public Vector256<double> Invoke(Vector256<double> x) => x * A * B;

    /// <inheritdoc/>
    public Vector512<double> Invoke(Vector512<double> x) => x * A * B;
}

/// <summary>d = sign(x) · factor: −1, 0, 1 (0 at ±0), and NaN for NaN (a wild trial stage), so the solver sees and rejects it.</summary>
/// <param name="Factor">The factor (−η in the flow, 1 for the bare direction).</param>
public readonly record struct SignOperator(double Factor) : IElementwise
{
    /// <summary>sign(x) as −1, 0, 1, NaN for NaN.</summary>
    public static double Sign(double x) => x > 0 ? 1.0 : (x < 0 ? -1.0 : (x == 0 ? 0.0 : x));

    /// <inheritdoc/>
    public double Invoke(double x) => Sign(x) * Factor;

    /// <inheritdoc/>
    public Vector256<double> Invoke(Vector256<double> x)
    {
        // x == x fails only for NaN, which is kept: the lanes that are neither > 0 nor < 0 are +0 or NaN.
        Vector256<double> rest = Vector256.ConditionalSelect(Vector256.Equals(x, x), Vector256<double>.Zero, x);
        Vector256<double> sign = Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256<double>.Zero), Vector256<double>.One,
            Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256<double>.Zero), -Vector256<double>.One, rest));
        return sign * Factor;
    }

    /// <inheritdoc/>
    public Vector512<double> Invoke(Vector512<double> x)
    {
        Vector512<double> rest = Vector512.ConditionalSelect(Vector512.Equals(x, x), Vector512<double>.Zero, x);
        Vector512<double> sign = Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512<double>.Zero), Vector512<double>.One,
            Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<double>.Zero), -Vector512<double>.One, rest));
        return sign * Factor;
    }
}

/// <summary>
/// d = r/√(r² + 1) · factor with r = x/δ: the smoothed sign x/√(x² + δ²) written so that it cannot overflow.
/// </summary>
/// <param name="InverseDelta">1/δ.</param>
/// <param name="Factor">The factor (−η in the flow, 1 for the bare direction).</param>
public readonly record struct SmoothSignOperator(double InverseDelta, double Factor) : IElementwise
{
    /// <inheritdoc/>
    public double Invoke(double x)
    {
        double r = x * InverseDelta;
        return r / Math.Sqrt((r * r) + 1) * Factor;
    }

    /// <inheritdoc/>
    public Vector256<double> Invoke(Vector256<double> x)
    {
        Vector256<double> r = x * InverseDelta;
        return r / Vector256.Sqrt((r * r) + Vector256<double>.One) * Factor;
    }

    /// <inheritdoc/>
    public Vector512<double> Invoke(Vector512<double> x)
    {
        Vector512<double> r = x * InverseDelta;
        return r / Vector512.Sqrt((r * r) + Vector512<double>.One) * Factor;
    }
}

/// <summary>
/// Adam's ratio on the scaled moments (Eq. 8), d = m̂/(√v̂ + ε) · factor with m̂ = m̃ · (1/b1), v̂ = max(ṽ, 0) · (1/b2)
/// and ε already scaled; 0 where the denominator is 0 (never NaN from 0/0), NaN where an input is NaN.
/// </summary>
/// <param name="InverseBias1">1/(1 − e^{−c1 t}).</param>
/// <param name="InverseBias2">1/(1 − e^{−c2 t}).</param>
/// <param name="ScaledEpsilon">ε e^{−λ_v/2}.</param>
/// <param name="Factor">The factor (−η e^{λ_m − λ_v/2} in the flow, 1 for the bare ratio).</param>
public readonly record struct AdamRatioOperator(double InverseBias1, double InverseBias2, double ScaledEpsilon, double Factor) : IElementwise2
{
    /// <summary>f(m̃, ṽ).</summary>
    public double Invoke(double x, double y)
    {
        double mHat = x * InverseBias1;
        double clipped = y < 0 ? 0.0 : y; // max(ṽ, 0), NaN stays NaN
        double denominator = Math.Sqrt(clipped * InverseBias2) + ScaledEpsilon;
        double ratio = denominator > 0 ? mHat / denominator : 0.0;
        return ratio * Factor;
    }

    /// <inheritdoc/>
    public Vector256<double> Invoke(Vector256<double> x, Vector256<double> y)
    {
        Vector256<double> mHat = x * InverseBias1;
        Vector256<double> clipped = Vector256.ConditionalSelect(Vector256.LessThan(y, Vector256<double>.Zero), Vector256<double>.Zero, y);
        Vector256<double> denominator = Vector256.Sqrt(clipped * InverseBias2) + Vector256.Create(ScaledEpsilon);
        Vector256<double> ratio = Vector256.ConditionalSelect(Vector256.GreaterThan(denominator, Vector256<double>.Zero), mHat / denominator, Vector256<double>.Zero);
        return ratio * Factor;
    }

    /// <inheritdoc/>
    public Vector512<double> Invoke(Vector512<double> x, Vector512<double> y)
    {
        Vector512<double> mHat = x * InverseBias1;
        Vector512<double> clipped = Vector512.ConditionalSelect(Vector512.LessThan(y, Vector512<double>.Zero), Vector512<double>.Zero, y);
        Vector512<double> denominator = Vector512.Sqrt(clipped * InverseBias2) + Vector512.Create(ScaledEpsilon);
        Vector512<double> ratio = Vector512.ConditionalSelect(Vector512.GreaterThan(denominator, Vector512<double>.Zero), mHat / denominator, Vector512<double>.Zero);
        return ratio * Factor;
    }
}

/// <summary>
/// The nonlinear part of the m̃ block, N_m = c1 e^{ℓ−λ_m} ∇log L − λ_m′ m̃ (see <see cref="OptimizerFlow"/>'s remarks),
/// as d = m̃ · (−λ_m′) + ∇log L · gain; invoked as f(∇log L, m̃).
/// </summary>
/// <param name="Gain">c1 e^{ℓ−λ_m}.</param>
/// <param name="MinusLogScaleRate">−λ_m′.</param>
public readonly record struct MomentumSourceOperator(double Gain, double MinusLogScaleRate) : IElementwise2
{
    /// <summary>f(∇log L, m̃).</summary>
    public double Invoke(double x, double y) => (y * MinusLogScaleRate) + (x * Gain);

    /// <inheritdoc/>
    public Vector256<double> Invoke(Vector256<double> x, Vector256<double> y) => (y * MinusLogScaleRate) + (x * Gain);

    /// <inheritdoc/>
    public Vector512<double> Invoke(Vector512<double> x, Vector512<double> y) => (y * MinusLogScaleRate) + (x * Gain);
}

/// <summary>
/// The nonlinear part of the ṽ block, N_v = c2 e^{2ℓ−λ_v} (∇log L)² − λ_v′ ṽ, as d = ṽ · (−λ_v′) + (∇log L)² · gain;
/// invoked as f(∇log L, ṽ).
/// </summary>
/// <param name="Gain">c2 e^{2ℓ−λ_v}.</param>
/// <param name="MinusLogScaleRate">−λ_v′.</param>
public readonly record struct SecondMomentSourceOperator(double Gain, double MinusLogScaleRate) : IElementwise2
{
    /// <summary>f(∇log L, ṽ).</summary>
    public double Invoke(double x, double y) => (y * MinusLogScaleRate) + (x * x * Gain);

    /// <inheritdoc/>
    public Vector256<double> Invoke(Vector256<double> x, Vector256<double> y) => (y * MinusLogScaleRate) + (x * x * Gain);

    /// <inheritdoc/>
    public Vector512<double> Invoke(Vector512<double> x, Vector512<double> y) => (y * MinusLogScaleRate) + (x * x * Gain);
}
