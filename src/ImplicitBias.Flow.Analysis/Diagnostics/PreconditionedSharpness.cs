using System.Numerics.Tensors;
using ImplicitBias.Flow.Core.Numerics;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Flows.Optimizers;

namespace ImplicitBias.Flow.Analysis.Diagnostics;

/// <summary>The preconditioned sharpness at a state and the discrete optimizer's stability threshold.</summary>
/// <param name="Preconditioner">What P is, in words.</param>
/// <param name="Largest">λ_max(P⁻¹ ∇²L).</param>
/// <param name="Smallest">λ_min(P⁻¹ ∇²L) (negative where the loss is locally non-convex).</param>
/// <param name="Residual">Lanczos residual bound of <see cref="Largest"/>.</param>
/// <param name="Eta">η(t).</param>
/// <param name="Threshold">
/// The sharpness above which the discrete optimizer with step η(t) is unstable on the quadratic model: 2/η for GD and
/// NGD, (2 + 2β1)/((1 − β1) η) for Adam and momentum (β1 = e^{−c1}; Cohen et al. 2022 for Adam).
/// </param>
public sealed record SharpnessResult(string Preconditioner, double Largest, double Smallest, double Residual, double Eta, double Threshold)
{
    /// <summary>λ_max over the threshold: ≥ 1 means past the discrete optimizer's edge of stability.</summary>
    public double RatioToThreshold => Largest / Threshold;
}

/// <summary>
/// The preconditioned sharpness λ_max(P⁻¹ ∇²L) of a flow's state by Lanczos on the symmetric P^{−1/2} ∇²L P^{−1/2},
/// with Hessian–vector products as central differences of ∇ log L. It is the edge-of-stability quantity of the
/// discrete optimizer and, for the flow, sets the θ–m̃ modes: with s = η λ (P⁻¹ ∇²L) the linearized Adam flow
/// θ′ = −η P⁻¹ m, m′ = c1 (∇L − m) has eigenvalues μ = −c1/2 ± √(c1²/4 − c1 s), oscillating at frequency √(c1 s)
/// once s &gt; c1/4.
/// </summary>
/// <remarks>
/// ∇²L = L (∇² log L + ∇log L ∇log Lᵀ) is built from the oracle's log-domain gradient, and L cancels against the
/// scale of P for Adam (√v ∝ L) and NGD (‖∇L‖ ∝ L), so the result is of order one however small L is. The
/// preconditioner is the one the optimizer's definition states (<see cref="OptimizerDefinition.Preconditioner"/>):
/// Adam P = (1 − e^{−c1 t}) (diag √v̂ + ε), v̂ = v/(1 − e^{−c2 t}) (the flow's m̂/(√v̂ + ε)); coordinates with v̂ = 0 are
/// frozen (the flow moves them by 0); NGD P = ‖∇L‖₂; GD and momentum GD P = I. Definitions without one (sign, polar,
/// defined directions) and composites are not supported. The threshold is the one with momentum when the definition
/// carries momentum.
/// </remarks>
public static class PreconditionedSharpness
{
    /// <summary>Whether the flow has a preconditioner here: one part whose definition states one (Adam, GD, momentum GD, NGD).</summary>
    public static bool Supports(OptimizerFlow flow)
    {
        ArgumentNullException.ThrowIfNull(flow);
        return flow.Parts.Count == 1 && flow.Parts[0].Definition.Preconditioner != PreconditionerKind.None;
    }

    /// <summary>Computes the sharpness at (t, y); null when <see cref="Supports"/> is false.</summary>
    /// <param name="flow">The flow.</param>
    /// <param name="t">Time (η(t) and Adam's bias corrections).</param>
    /// <param name="y">State.</param>
    /// <param name="dimension">Lanczos steps (two gradient evaluations each).</param>
    public static SharpnessResult? Compute(OptimizerFlow flow, double t, ReadOnlySpan<double> y, int dimension = 20)
    {
        ArgumentNullException.ThrowIfNull(flow);
        if (!Supports(flow))
        {
            return null;
        }

        OptimizerPart p = flow.Parts[0];
        int n = flow.Parameters.Length;
        double[] theta = flow.Theta(y).ToArray();
        var g = new double[n];
        double logLoss = flow.Oracle.Evaluate(theta, g);
        double eta = flow.Schedules[0].Eta(t);
        double beta1 = Math.Exp(-p.C1);

        // Edge of stability on the quadratic model: 2/η, or (2 + 2β1)/((1 − β1) η) with momentum (Cohen et al. 2022).
        double threshold = p.Definition.HasMomentum ? (2 + (2 * beta1)) / ((1 - beta1) * eta) : 2 / eta;

        // B = c · D^{1/2} (∇² log L + g gᵀ) D^{1/2} with P⁻¹ ∇²L = c D (∇² log L + g gᵀ).
        var d = new double[n];
        double c;
        string what;
        switch (p.Definition.Preconditioner)
        {
            case PreconditionerKind.AdamDiagonal:
            {
                ReadOnlySpan<double> v = y.Slice(flow.Layout.Offset(flow.SecondMomentBlock(0)), n);
                double lambdaV = flow.SecondMomentLogScale(0, y);
                double bias1 = t > 0 ? -ScalarMath.ExpM1(-p.C1 * t) : 1;
                double bias2 = t > 0 ? -ScalarMath.ExpM1(-p.C2 * t) : 1;
                double scaledEpsilon = p.Epsilon == 0 ? 0 : p.Epsilon * Math.Exp(Math.Min(-lambdaV / 2, 700));
                for (int i = 0; i < n; i++)
                {
                    // At t = 0 the moments are zero and the flow uses their limits m̂ = ∇L, v̂ = (∇L)² (Eqs. 7–8 as t → 0),
                    // so P = |∇L| there: in the scaled variables √ṽ̂ = |∇log L| e^{log L − λv/2}.
                    double rootV = t > 0 ? Math.Sqrt(Math.Max(v[i], 0) / bias2) : Math.Abs(g[i]) * Math.Exp(Math.Clamp(logLoss - (lambdaV / 2), -700, 700));
                    double denominator = bias1 * (rootV + scaledEpsilon);
                    d[i] = denominator > 0 ? 1 / denominator : 0;
                }

                c = Math.Exp(Math.Clamp(logLoss - (lambdaV / 2), -700, 700));
                what = "(1 − β1ᵗ)(diag √v̂ + ε)";
                break;
            }

            case PreconditionerKind.GradientNorm:
                Array.Fill(d, 1.0);
                c = 1 / TensorPrimitives.Norm(g);
                what = "‖∇L‖₂";
                break;
            default:
                Array.Fill(d, 1.0);
                c = Math.Exp(logLoss);
                what = "I";
                break;
        }

        var root = d.Select(Math.Sqrt).ToArray();
        var u = new double[n];
        var plus = new double[n];
        var minus = new double[n];
        var gPlus = new double[n];
        var gMinus = new double[n];
        double step = FlowJacobianSpectrum.DifferenceStep * Math.Max(TensorPrimitives.Norm(theta), 1);

        void Product(ReadOnlySpan<double> x, Span<double> result)
        {
            TensorPrimitives.Multiply(x, root, u);
            double norm = TensorPrimitives.Norm(u);
            if (norm == 0)
            {
                result.Clear();
                return;
            }

            // ∇² log L u ≈ (∇log L(θ + δ û) − ∇log L(θ − δ û)) ‖u‖ / (2δ), û = u/‖u‖.
            double delta = step / norm;
            TensorPrimitives.MultiplyAdd(u, delta, theta, plus);
            TensorPrimitives.MultiplyAdd(u, -delta, theta, minus);
            flow.Oracle.Evaluate(plus, gPlus);
            flow.Oracle.Evaluate(minus, gMinus);
            TensorPrimitives.Subtract(gPlus, gMinus, result);
            TensorPrimitives.Multiply(result, 1 / (2 * delta), result);
            TensorPrimitives.MultiplyAdd(g, TensorPrimitives.Dot(g, u), result, result);
            TensorPrimitives.Multiply(result, root, result);
            TensorPrimitives.Multiply(result, c, result);
        }

        (double largest, double smallest, double residual) = Krylov.SymmetricExtremes(Product, n, dimension);
        return new SharpnessResult(what, largest, smallest, residual, eta, threshold);
    }
}
