using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;

namespace ImplicitBias.Flow.Models.Tests;

public class GradientTests
{
    public static TheoryData<string, int, string> Cases()
    {
        var data = new TheoryData<string, int, string>();
        foreach (var act in new[] { "relu", "squared-relu", "relu^3", "relu^1.5", "quadratic", "identity" })
        {
            for (int depth = 1; depth <= 3; depth++)
            {
                foreach (var loss in new[] { "exponential", "logistic" })
                {
                    data.Add(act, depth, loss);
                }
            }
        }

        return data;
    }

    private static (LossEvaluator Eval, double[] Theta) Build(string act, int depth, string loss, ulong seed, double scale)
    {
        var data = SyntheticData.Gaussian(12, 5, seed);
        int[] widths = depth switch { 1 => [], 2 => [6], _ => [6, 4] };
        var net = new FullyConnectedNetwork(5, widths, Activation.Parse(act));
        var theta = Initialization.KaimingNormal(net.Layout, seed + 100, scale);
        return (new LossEvaluator(net, data, Loss.Parse(loss), maxDegreeOfParallelism: 2), theta);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void RelativeGradient_MatchesCentralFiniteDifferencesOfLogLoss(string act, int depth, string loss)
    {
        // Scale 1 so that the network output is O(1) and the loss is not trivially flat.
        var (eval, theta) = Build(act, depth, loss, 7, 1.0);
        var g = new double[theta.Length];
        eval.Evaluate(theta, g);

        // g/L = ∇ log L, so finite differences of log L check the relative gradient directly.
        double maxErr = 0, maxG = 0;
        var tp = (double[])theta.Clone();
        for (int k = 0; k < theta.Length; k++)
        {
            double h = 1e-6 * Math.Max(1.0, Math.Abs(theta[k]));
            tp[k] = theta[k] + h;
            double lp = eval.EvaluateLoss(tp);
            tp[k] = theta[k] - h;
            double lm = eval.EvaluateLoss(tp);
            tp[k] = theta[k];
            double fd = (lp - lm) / (2 * h);
            maxErr = Math.Max(maxErr, Math.Abs(fd - g[k]));
            maxG = Math.Max(maxG, Math.Abs(g[k]));
        }

        Assert.True(maxG > 1e-3, $"gradient unexpectedly tiny ({maxG})");
        Assert.True(maxErr <= 1e-6 * maxG, $"max |fd − g| = {maxErr}, max |g| = {maxG}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SampleOutputGradient_MatchesFiniteDifferencesAndSumsToBatchGradient(string act, int depth, string loss)
    {
        var (eval, theta) = Build(act, depth, loss, 11, 1.0);
        int n = theta.Length, m = eval.Data.Count;
        var batch = new double[n];
        eval.Evaluate(theta, batch);
        var weights = eval.RelativeWeights.ToArray();
        var outputs = eval.Outputs.ToArray();
        var sum = new double[n];
        var gi = new double[n];
        for (int i = 0; i < m; i++)
        {
            double fi = eval.SampleOutputGradient(theta, i, gi);
            // Batch and single-sample passes sum in different orders (blocked SIMD kernels): relative agreement.
            Assert.True(Math.Abs(outputs[i] - fi) <= 1e-12 * Math.Max(1, Math.Abs(fi)), $"f_{i}: {outputs[i]} vs {fi}");
            for (int k = 0; k < n; k++)
            {
                sum[k] += weights[i] * eval.Data.Label(i) * gi[k];
            }
        }

        for (int k = 0; k < n; k++)
        {
            Assert.True(Math.Abs(batch[k] - sum[k]) <= 1e-10 * Math.Max(1, Math.Abs(sum[k])), $"k={k}");
        }

        // ∇f for sample 0 against finite differences of f.
        eval.SampleOutputGradient(theta, 0, gi);
        var tp = (double[])theta.Clone();
        var x0 = eval.Data.Input(0).ToArray();
        for (int k = 0; k < n; k++)
        {
            double h = 1e-6;
            tp[k] = theta[k] + h;
            double fp = eval.Network.Output(tp, x0);
            tp[k] = theta[k] - h;
            double fm = eval.Network.Output(tp, x0);
            tp[k] = theta[k];
            Assert.True(Math.Abs((fp - fm) / (2 * h) - gi[k]) <= 1e-6 * Math.Max(1, Math.Abs(gi[k])), $"k={k}");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Homogeneity_AndEulerIdentity(string act, int depth, string loss)
    {
        var (eval, theta) = Build(act, depth, loss, 3, 1.0);
        var net = eval.Network;
        double degree = net.HomogeneityDegree;
        int m = eval.Data.Count;
        var f = new double[m];
        var fs = new double[m];
        eval.ForwardOutputs(theta, f);
        const double c = 1.7;
        var scaled = theta.Select(t => c * t).ToArray();
        eval.ForwardOutputs(scaled, fs);
        double factor = Math.Pow(c, degree);
        var gi = new double[theta.Length];
        for (int i = 0; i < m; i++)
        {
            Assert.True(Math.Abs(fs[i] - factor * f[i]) <= 1e-11 * Math.Max(1, Math.Abs(fs[i])), $"homogeneity i={i}");
            eval.SampleOutputGradient(theta, i, gi);
            double euler = Simd.Dot(theta, gi);
            Assert.True(Math.Abs(euler - degree * f[i]) <= 1e-11 * Math.Max(1, Math.Abs(euler)), $"Euler i={i}");
        }
    }

    [Fact]
    public void HomogeneityDegree_FollowsAssumptionM2()
    {
        Assert.Equal(2.0, new FullyConnectedNetwork(3, [4], Activation.Relu).HomogeneityDegree);
        Assert.Equal(3.0, new FullyConnectedNetwork(3, [4], Activation.SquaredRelu).HomogeneityDegree);
        Assert.Equal(7.0, new FullyConnectedNetwork(3, [4, 4], Activation.Quadratic).HomogeneityDegree);
        Assert.Equal(1.0, new FullyConnectedNetwork(3, [], Activation.Relu).HomogeneityDegree);
        Assert.Equal(1 + 3 + 9.0, new FullyConnectedNetwork(3, [2, 2], Activation.ReluPower(3)).HomogeneityDegree);
    }

    [Fact]
    public void ReluDerivativeAtZero_IsZero()
    {
        Assert.Equal(0.0, Activation.Relu.Derivative(0.0));
        Assert.Equal(1.0, Activation.Relu.Derivative(1e-300));
    }

    [Fact]
    public void ParallelAndSerialEvaluators_AgreeOnLargerProblem()
    {
        var data = SyntheticData.Xor(500, 20, 5);
        var net = new FullyConnectedNetwork(20, [33, 7], Activation.SquaredRelu);
        var theta = Initialization.KaimingNormal(net.Layout, 9, 1.0);
        var g1 = new double[theta.Length];
        var g2 = new double[theta.Length];
        double l1 = new LossEvaluator(net, data, Loss.Exponential, 1).Evaluate(theta, g1);
        double l2 = new LossEvaluator(net, data, Loss.Exponential, -1).Evaluate(theta, g2);
        Assert.Equal(l1, l2, 12);
        for (int k = 0; k < g1.Length; k++)
        {
            Assert.Equal(g1[k], g2[k], 12);
        }
    }
}
