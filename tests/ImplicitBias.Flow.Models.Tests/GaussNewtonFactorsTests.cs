using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;
using MathNet.Numerics.LinearAlgebra;

namespace ImplicitBias.Flow.Models.Tests;

/// <summary>
/// The Gauss–Newton factors of ∇² log L against an independent computation: per-sample output gradients by central
/// differences of the network's output, the weights ℓ''(z_i)/L written out for each loss, and the |θ| × |θ| matrix
/// P (Σ_i ω_i ∇f_i ∇f_iᵀ) P decomposed directly.
/// </summary>
public class GaussNewtonFactorsTests
{
    private const int Samples = 40;

    private static (LossEvaluator Evaluator, double[] Theta, double[] Direction) Problem(Loss loss)
    {
        var data = SyntheticData.Gaussian(Samples, 6, 3);
        var network = new FullyConnectedNetwork(6, [5], Activation.SquaredRelu);
        double[] theta = Initialization.KaimingNormal(network.Layout, 1, 1.0);
        var random = new System.Random(5);
        double[] direction = theta.Select(_ => random.NextDouble() - 0.5).ToArray();
        double norm = Math.Sqrt(direction.Sum(v => v * v));
        return (new LossEvaluator(network, data, loss, 1), theta, direction.Select(v => v / norm).ToArray());
    }

    /// <summary>P Σ_i ω_i ∇f_i ∇f_iᵀ P over the samples <paramref name="kept"/> (all when null), from central differences.</summary>
    private static (Matrix<double> Matrix, double[] Score) Independent(LossEvaluator evaluator, double[] theta, double[] direction, Loss loss, int keep)
    {
        int n = theta.Length;
        var gradients = new double[Samples][];
        var margins = new double[Samples];
        for (int i = 0; i < Samples; i++)
        {
            double y = evaluator.Data.Label(i);
            margins[i] = y * evaluator.Network.Output(theta, evaluator.Data.Input(i));
            gradients[i] = new double[n];
            for (int j = 0; j < n; j++)
            {
                double[] plus = theta.ToArray(), minus = theta.ToArray();
                plus[j] += 1e-6;
                minus[j] -= 1e-6;
                gradients[i][j] = (evaluator.Network.Output(plus, evaluator.Data.Input(i)) - evaluator.Network.Output(minus, evaluator.Data.Input(i))) / 2e-6;
            }
        }

        // ℓ''(z)/L: exponential e^{−z} / Σ e^{−z_j}; logistic σ(z)σ(−z) / Σ log(1 + e^{−z_j}).
        double total = margins.Sum(z => loss.Kind == LossKind.Exponential ? Math.Exp(-z) : Math.Log(1 + Math.Exp(-z)));
        double[] weight = margins.Select(z => (loss.Kind == LossKind.Exponential ? Math.Exp(-z) : 1 / ((1 + Math.Exp(-z)) * (1 + Math.Exp(z)))) / total).ToArray();
        double[] score = Enumerable.Range(0, Samples).Select(i => weight[i] * gradients[i].Sum(v => v * v)).ToArray();
        int[] order = Enumerable.Range(0, Samples).OrderByDescending(i => score[i]).Take(keep).ToArray();
        var projector = Matrix<double>.Build.DenseIdentity(n) - (Vector<double>.Build.DenseOfArray(direction).OuterProduct(Vector<double>.Build.DenseOfArray(direction)));
        var g = Matrix<double>.Build.Dense(n, n);
        foreach (int i in order)
        {
            var a = Vector<double>.Build.DenseOfArray(gradients[i]);
            g += weight[i] * a.OuterProduct(a);
        }

        return (projector * g * projector, score);
    }

    [Theory]
    [InlineData("exponential", Samples)]
    [InlineData("logistic", Samples)]
    [InlineData("exponential", 12)]
    public void AllFactors_RebuildTheProjectedGaussNewtonPart(string lossName, int keep)
    {
        Loss loss = Loss.Parse(lossName);
        (LossEvaluator evaluator, double[] theta, double[] direction) = Problem(loss);
        int n = theta.Length;
        var factors = Enumerable.Range(0, n).Select(_ => new double[n]).ToArray();
        var gn = new GaussNewtonFactors(evaluator, keep);
        int rank = gn.Compute(theta, direction, factors);
        (Matrix<double> expected, double[] score) = Independent(evaluator, theta, direction, loss, keep);
        // Samples on which no unit is active have ∇f_i = 0 and are not kept.
        Assert.Equal(Math.Min(keep, score.Count(v => v > 0)), gn.SamplesKept);
        Assert.InRange(rank, 1, gn.SamplesKept);
        var projector = Matrix<double>.Build.DenseIdentity(n) - Vector<double>.Build.DenseOfArray(direction).OuterProduct(Vector<double>.Build.DenseOfArray(direction));
        var built = Matrix<double>.Build.Dense(n, n);
        for (int k = 0; k < rank; k++)
        {
            var f = Vector<double>.Build.DenseOfArray(factors[k]);
            built += f.OuterProduct(f);
        }

        built = projector * built * projector;
        double scale = expected.L2Norm();
        Assert.True(scale > 0);
        Assert.True((built - expected).L2Norm() < 1e-6 * scale, $"‖built − expected‖ = {(built - expected).L2Norm():g3}, ‖expected‖ = {scale:g3}");
    }

    /// <summary>The first q factors are the leading eigen-directions: their ‖P F_k‖² are the q largest eigenvalues, in order.</summary>
    [Fact]
    public void LeadingFactors_CarryTheLargestEigenvalues()
    {
        Loss loss = Loss.Exponential;
        (LossEvaluator evaluator, double[] theta, double[] direction) = Problem(loss);
        int n = theta.Length;
        var factors = Enumerable.Range(0, 3).Select(_ => new double[n]).ToArray();
        Assert.Equal(3, new GaussNewtonFactors(evaluator, Samples).Compute(theta, direction, factors));
        (Matrix<double> expected, _) = Independent(evaluator, theta, direction, loss, Samples);
        double[] eigenvalues = expected.Evd(Symmetricity.Symmetric).EigenValues.Select(e => e.Real).OrderByDescending(v => v).ToArray();
        for (int k = 0; k < 3; k++)
        {
            double along = factors[k].Zip(direction, (a, b) => a * b).Sum();
            double projected = factors[k].Select((v, i) => v - (along * direction[i])).Sum(v => v * v);
            Assert.Equal(eigenvalues[k], projected, 1e-6 * eigenvalues[0]);
        }
    }
}
