using ImplicitBias.Flow.Core.Numerics;

namespace ImplicitBias.Flow.Models.Losses;

/// <summary>Kinds of margin losses (docs/mathematics.md §1).</summary>
public enum LossKind
{
    /// <summary>ℓ(u) = e^{−u}, φ(u) = u.</summary>
    Exponential,

    /// <summary>ℓ(u) = log(1 + e^{−u}), φ(u) = −log log(1 + e^{−u}).</summary>
    Logistic,
}

/// <summary>
/// A margin loss ℓ(u) = exp(−φ(u)) written through log-space quantities so that a SUM of losses can be carried
/// as log L (log-sum-exp of log ℓ(z_i)) and the weights ℓ'(z_i)/L computed without under- or overflow
/// (docs/mathematics.md §1: nothing may underflow when L is far below 1e-300).
/// </summary>
public sealed class Loss
{
    private Loss(LossKind kind) => Kind = kind;

    /// <summary>The exponential loss.</summary>
    public static Loss Exponential { get; } = new(LossKind.Exponential);

    /// <summary>The logistic loss.</summary>
    public static Loss Logistic { get; } = new(LossKind.Logistic);

    /// <summary>The kind.</summary>
    public LossKind Kind { get; }

    /// <summary>Parses "exponential"/"exp" or "logistic".</summary>
    public static Loss Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.Trim().ToUpperInvariant() switch
        {
            "EXPONENTIAL" or "EXP" => Exponential,
            "LOGISTIC" => Logistic,
            _ => throw new FormatException($"Unknown loss '{text}' (known: exponential, logistic)."),
        };
    }

    /// <summary>log ℓ(u) = −φ(u), accurate for every finite u (no underflow for large margins).</summary>
    public double LogValue(double u)
    {
        if (Kind == LossKind.Exponential)
        {
            return -u;
        }

        // ℓ(u) = log1p(t), t = e^{−u}. For small t, log(log1p(t)) = −u + log(log1p(t)/t) with
        // log1p(t)/t = 1 − t/2 + t²/3 − …, which stays exact when t underflows.
        if (u > 20)
        {
            double t = Math.Exp(-u);
            return -u + ScalarMath.Log1P((-0.5 + t / 3.0) * t);
        }

        return Math.Log(Softplus(-u));
    }

    /// <summary>ℓ(u).</summary>
    public double Value(double u) => Kind == LossKind.Exponential ? Math.Exp(-u) : Softplus(-u);

    /// <summary>φ(u) = −log ℓ(u).</summary>
    public double Phi(double u) => -LogValue(u);

    /// <summary>φ⁻¹(s): exponential s; logistic −log(expm1(e^{−s})), evaluated stably for large |s|.</summary>
    public double PhiInverse(double s)
    {
        if (Kind == LossKind.Exponential)
        {
            return s;
        }

        if (s > 20)
        {
            // expm1(t) = t (1 + t/2 + t²/6 + …) with t = e^{−s}, so −log expm1(t) = s − log1p(t/2 + t²/6).
            double t = Math.Exp(-s);
            return s - ScalarMath.Log1P(t * (0.5 + t / 6.0));
        }

        double e = Math.Exp(-s);
        if (e > 30)
        {
            // expm1(e) = e^e (1 − e^{−e}): −log expm1(e) = −e − log1p(−e^{−e}); avoids overflow of e^e.
            return -e - ScalarMath.Log1P(-Math.Exp(-e));
        }

        return -Math.Log(ScalarMath.ExpM1(e));
    }

    /// <summary>
    /// log |ℓ'(u)|: exponential −u; logistic log σ(−u) = −softplus(u). (ℓ' &lt; 0 for both losses.)
    /// </summary>
    public double LogNegativeDerivative(double u) => Kind == LossKind.Exponential ? -u : -Softplus(u);

    /// <summary>
    /// log ℓ''(u): exponential −u; logistic log σ(u)σ(−u) = −softplus(u) − softplus(−u). The weights ℓ''(z_i)/L of the
    /// Gauss–Newton part of ∇² log L (<see cref="Evaluation.GaussNewtonFactors"/>).
    /// </summary>
    public double LogSecondDerivative(double u) => Kind == LossKind.Exponential ? -u : -Softplus(u) - Softplus(-u);

    /// <summary>ℓ'(u).</summary>
    public double Derivative(double u) => -Math.Exp(LogNegativeDerivative(u));

    /// <summary>
    /// log L for L = Σ_i ℓ(z_i), by log-sum-exp over log ℓ(z_i). <paramref name="scratch"/> (length m) receives
    /// log ℓ(z_i).
    /// </summary>
    public double LogSumLoss(ReadOnlySpan<double> margins, Span<double> scratch)
    {
        double max = double.NegativeInfinity;
        for (int i = 0; i < margins.Length; i++)
        {
            double v = LogValue(margins[i]);
            scratch[i] = v;
            if (v > max)
            {
                max = v;
            }
        }

        if (double.IsPositiveInfinity(max))
        {
            return max;
        }

        double sum = 0;
        for (int i = 0; i < margins.Length; i++)
        {
            sum += Math.Exp(scratch[i] - max);
        }

        return max + Math.Log(sum);
    }

    /// <summary>
    /// Fills <paramref name="relativeWeights"/> with ℓ'(z_i)/L = −exp(log|ℓ'(z_i)| − log L), of order one however
    /// small L is.
    /// </summary>
    public void RelativeWeights(ReadOnlySpan<double> margins, double logLoss, Span<double> relativeWeights)
    {
        for (int i = 0; i < margins.Length; i++)
        {
            relativeWeights[i] = -Math.Exp(LogNegativeDerivative(margins[i]) - logLoss);
        }
    }

    /// <summary>log(1 + e^x) without overflow.</summary>
    public static double Softplus(double x) => Math.Max(x, 0.0) + ScalarMath.Log1P(Math.Exp(-Math.Abs(x)));

    /// <inheritdoc/>
    public override string ToString() => Kind == LossKind.Exponential ? "exponential" : "logistic";
}
