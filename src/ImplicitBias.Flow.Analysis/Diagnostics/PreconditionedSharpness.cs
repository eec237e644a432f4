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
/// with Hessian–vector products as central differences of ∇ log L, one per band of the preconditioner's scale. It is the edge-of-stability quantity of the
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
    /// <param name="dimension">Lanczos steps (two gradient evaluations each, per band of D's scale: see <see cref="BandDecades"/>).</param>
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
        int[] band = ScaleBands(root, out int bands);
        var u = new double[n];
        var part = new double[n];
        var plus = new double[n];
        var minus = new double[n];
        var gPlus = new double[n];
        var gMinus = new double[n];
        var difference = new double[n];
        double step = FlowJacobianSpectrum.DifferenceStep * Math.Max(TensorPrimitives.Norm(theta), 1);

        // ∇² log L w ≈ (∇log L(θ + δ ŵ) − ∇log L(θ − δ ŵ)) ‖w‖ / (2δ), ŵ = w/‖w‖, added into result.
        void Difference(ReadOnlySpan<double> w, Span<double> result)
        {
            double norm = TensorPrimitives.Norm(w);
            if (norm == 0)
            {
                return;
            }

            double delta = step / norm;
            TensorPrimitives.MultiplyAdd(w, delta, theta, plus);
            TensorPrimitives.MultiplyAdd(w, -delta, theta, minus);
            flow.Oracle.Evaluate(plus, gPlus);
            flow.Oracle.Evaluate(minus, gMinus);
            TensorPrimitives.Subtract(gPlus, gMinus, difference);
            TensorPrimitives.MultiplyAdd(difference, 1 / (2 * delta), result, result);
        }

        void Product(ReadOnlySpan<double> x, Span<double> result)
        {
            TensorPrimitives.Multiply(x, root, u);
            result.Clear();

            // One difference per band of D's scale (see ScaleBands): a single step along u would move the coordinates of
            // the other bands by less than θ's rounding, and lose their part of the product. An empty band costs nothing.
            for (int b = 0; b < bands; b++)
            {
                for (int i = 0; i < n; i++)
                {
                    part[i] = band[i] == b ? u[i] : 0;
                }

                Difference(part, result);
            }

            TensorPrimitives.MultiplyAdd(g, TensorPrimitives.Dot(g, u), result, result);
            TensorPrimitives.Multiply(result, root, result);
            TensorPrimitives.Multiply(result, c, result);
        }

        (double largest, double smallest, double residual) = Krylov.SymmetricExtremes(Product, n, dimension);
        return new SharpnessResult(what, largest, smallest, residual, eta, threshold);
    }

    /// <summary>
    /// The decades of D^{1/2} that one central difference covers: 4. A difference along u = D^{1/2} x moves each coordinate by
    /// δ u_i with δ set by the largest; a coordinate 10^k smaller moves 10^k times less, and its share of the product
    /// carries the difference's relative error (≈ ε^{2/3} ≈ 4e-11) times 10^k, so 4 decades keep it near 4e-7. Adam's
    /// D = 1/√v̂ spans far more late in a run: a weight whose gradient has been tiny for a long time keeps a second moment
    /// that decays like e^{−c2 t} (measured on MNIST at t = 2e5: D^{1/2} from 45 to 3.6e24), and one difference along u
    /// then moved every other coordinate by less than θ's rounding: the sharpness came out 218 where it is 5.5e6.
    /// </summary>
    public const double BandDecades = 4;

    /// <summary>
    /// The band of each coordinate by its scale, counted down from the largest in steps of <see cref="BandDecades"/>
    /// decades (zeros in band 0, where they add nothing); <paramref name="bands"/> is one more than the lowest band. A
    /// range of scales narrower than the step is one band: the product is then the single difference it always was.
    /// </summary>
    private static int[] ScaleBands(double[] root, out int bands)
    {
        double largest = TensorPrimitives.Max(root);
        var band = new int[root.Length];
        bands = 1;
        if (!(largest > 0) || !double.IsFinite(largest))
        {
            return band;
        }

        double top = Math.Log10(largest);
        for (int i = 0; i < root.Length; i++)
        {
            band[i] = root[i] > 0 ? (int)Math.Floor((top - Math.Log10(root[i])) / BandDecades) : 0;
            bands = Math.Max(bands, band[i] + 1);
        }

        return band;
    }
}
