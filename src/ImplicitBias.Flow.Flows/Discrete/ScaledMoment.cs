using System.Numerics.Tensors;

namespace ImplicitBias.Flow.Flows.Discrete;

/// <summary>
/// The update of an exponential moving average x_n = β x_{n−1} + (1 − β) e^{p λ_n} r_n^p (Eq. 19 with p = 1; Eq. 20's
/// v with p = 2), held as x_n = e^{s_n} x̃_n with a floating log-scale s_n (the flow state's λ block of the moment) so
/// that it neither underflows as L → 0 nor overflows when old, larger gradients dominate a fast-falling loss.
/// </summary>
/// <remarks>
/// Each update picks s_n = max(s_{n−1} + log β, p λ_n + log(1 − β)), the log of the larger of the two terms'
/// scales, so both factors e^{s_{n−1} + log β − s_n} and e^{p λ_n + log(1 − β) − s_n} are at most 1: x̃ stays of the
/// order of the relative gradient r = ∇ log L, and x keeps its full relative precision whatever L is. The first update
/// (n = 1) starts from x_0 = 0, whatever s_0 holds: s_1 = p λ_1 + log(1 − β).
/// </remarks>
internal readonly struct ScaledMoment
{
    private readonly double _logBeta;
    private readonly double _logOneMinusBeta;
    private readonly int _power;

    /// <summary>The update with β = e^{−c h} for the power p (1 for m, 2 for v).</summary>
    public ScaledMoment(double rate, double stepSize, int power)
    {
        _logBeta = -rate * stepSize;

        // log(1 − β) = log(−expm1(−c h)), accurate for small c h (the h → 0 map).
        _logOneMinusBeta = Math.Log(-Core.Numerics.ScalarMath.ExpM1(_logBeta));
        _power = power;
    }

    /// <summary>
    /// x_n ← β x_{n−1} + (1 − β) e^{p λ} r^p for log L = <paramref name="logLoss"/>, ∇ log L = <paramref name="relativeGradient"/>:
    /// <paramref name="mantissa"/> is x̃, <paramref name="logScale"/> is s (both updated).
    /// </summary>
    /// <param name="mantissa">x̃_{n−1} in, x̃_n out.</param>
    /// <param name="logScale">s_{n−1} in, s_n out.</param>
    /// <param name="first">True for n = 1: x_0 = 0.</param>
    /// <param name="logLoss">log L(θ_{n−1}).</param>
    /// <param name="relativeGradient">∇ log L(θ_{n−1}).</param>
    public void Update(Span<double> mantissa, ref double logScale, bool first, double logLoss, ReadOnlySpan<double> relativeGradient)
    {
        double oldTerm = first ? double.NegativeInfinity : logScale + _logBeta;
        double newTerm = (_power * logLoss) + _logOneMinusBeta;
        double scale = Math.Max(oldTerm, newTerm);
        double keep = double.IsNegativeInfinity(oldTerm) ? 0 : Math.Exp(oldTerm - scale);
        double add = Math.Exp(newTerm - scale);
        Span<double> x = mantissa;
        if (_power == 1)
        {
            // x̃ ← keep · x̃ + add · r.
            TensorPrimitives.Multiply(x, keep, x);
            TensorPrimitives.MultiplyAdd(relativeGradient, add, x, x);
        }
        else
        {
            // x̃ ← keep · x̃ + add · r².
            for (int i = 0; i < x.Length; i++)
            {
                double r = relativeGradient[i];
                x[i] = (keep * x[i]) + (add * r * r);
            }
        }

        logScale = scale;
    }
}
