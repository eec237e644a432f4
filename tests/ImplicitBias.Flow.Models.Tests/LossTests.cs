using ImplicitBias.Flow.Core.Numerics;

using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;

namespace ImplicitBias.Flow.Models.Tests;

public class LossTests
{
    [Theory]
    [InlineData(-30.0)]
    [InlineData(-3.0)]
    [InlineData(0.0)]
    [InlineData(0.5)]
    [InlineData(4.0)]
    [InlineData(25.0)]
    public void Logistic_ValueAndDerivative_MatchDirectFormulas(double u)
    {
        var loss = Loss.Logistic;
        // For u = 25, 1 + e^{-u} rounds away the tail; there use the series log(1 + t) = t − t²/2.
        double t = Math.Exp(-u);
        double direct = u > 20 ? t - t * t / 2 : Math.Log(1 + t);
        double logDirect = u > 20 ? -u - t / 2 : Math.Log(direct);
        Assert.Equal(direct, loss.Value(u), 1e-14 * Math.Max(1e-300, direct));
        Assert.Equal(logDirect, loss.LogValue(u), 1e-14 * Math.Max(1, Math.Abs(logDirect)));
        Assert.Equal(-1 / (1 + Math.Exp(u)), loss.Derivative(u), 1e-15);
    }

    [Theory]
    [InlineData(-5.0)]
    [InlineData(-0.3)]
    [InlineData(0.0)]
    [InlineData(2.0)]
    [InlineData(19.0)]
    [InlineData(21.0)]
    [InlineData(40.0)]
    [InlineData(1e4)]
    public void PhiInverse_InvertsPhi(double u)
    {
        foreach (var loss in new[] { Loss.Exponential, Loss.Logistic })
        {
            double s = loss.Phi(u);
            Assert.True(double.IsFinite(s));
            Assert.Equal(u, loss.PhiInverse(s), 1e-9 * Math.Max(1, Math.Abs(u)));
        }
    }

    [Fact]
    public void PhiInverse_Logistic_MatchesClosedFormInModerateRange()
    {
        foreach (double s in new[] { -2.0, 0.0, 1.0, 5.0, 15.0 })
        {
            Assert.Equal(-Math.Log(Math.Exp(Math.Exp(-s)) - 1), Loss.Logistic.PhiInverse(s), 1e-9);
        }
    }

    [Fact]
    public void StableMath_IsAccurateNearZero()
    {
        Assert.Equal(1e-20, ScalarMath.Log1P(1e-20));
        Assert.Equal(1e-20, ScalarMath.ExpM1(1e-20));
        Assert.Equal(Math.Log(1.5), ScalarMath.Log1P(0.5), 15);
        Assert.Equal(Math.E - 1, ScalarMath.ExpM1(1.0), 15);
        double t = 1e-10;
        Assert.Equal(t - t * t / 2, ScalarMath.Log1P(t), 1e-30);
    }

    [Theory]
    [InlineData("exponential")]
    [InlineData("logistic")]
    public void LogLossAndWeights_StayFiniteAndExact_WhenLossUnderflows(string lossName)
    {
        // Linear predictor in d = 1 with x_i = y_i a_i and θ = [c]: margins z_i = c a_i ≈ 1e4, so L ≈ e^{-1e4}
        // (far below 1e-300, 0 in double). For z this large, log ℓ(z) = −z to double precision for both losses.
        double[] a = [1.0, 1.5, 1.0001, 3.0];
        double[] y = [1, -1, -1, 1];
        var x = a.Select((ai, i) => y[i] * ai).ToArray();
        var data = new Dataset(x, y, 1);
        var net = new FullyConnectedNetwork(1, [], Activation.Identity);
        var eval = new LossEvaluator(net, data, Loss.Parse(lossName));
        double c = 1e4;
        var g = new double[1];
        double logL = eval.Evaluate([c], g);

        var z = a.Select(ai => c * ai).ToArray();
        double zmin = z.Min();
        double expected = -zmin + Math.Log(z.Sum(zi => Math.Exp(-(zi - zmin))));
        Assert.Equal(0.0, Math.Exp(logL));
        Assert.Equal(expected, logL, 1e-12 * Math.Abs(expected));
        Assert.Equal(zmin, eval.MinMargin);

        // ℓ'(z_i)/L = −e^{−z_i}/L; samples 0 and 2 dominate (margins 1e4 and 1.0001e4).
        var w = eval.RelativeWeights;
        double gExpected = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double wi = -Math.Exp(-z[i] - expected);
            Assert.True(double.IsFinite(w[i]));
            Assert.Equal(wi, w[i], 1e-12);
            gExpected += wi * y[i] * x[i];
        }

        Assert.Equal(-1.0, w[0] + w[2], 1e-12);
        Assert.Equal(gExpected, g[0], 1e-12);
        Assert.True(Math.Abs(g[0]) > 0.5);
    }

    [Fact]
    public void TwoLayerNetwork_WithHugeScale_HasFiniteRelativeGradient()
    {
        // Scaling θ by c multiplies margins by c^L; with L = 3 and c = 60 the loss is ≈ e^{-1e4·…}.
        var data = SyntheticData.Gaussian(30, 4, 1, margin: 1.0);
        var net = new FullyConnectedNetwork(4, [8], Activation.SquaredRelu);
        var theta = Initialization.KaimingNormal(net.Layout, 2, 1.0);
        var eval = new LossEvaluator(net, data, Loss.Exponential);
        var g = new double[theta.Length];
        eval.Evaluate(theta, g);
        double c = 1e3;
        var big = theta.Select(t => c * t).ToArray();
        var gBig = new double[theta.Length];
        double logL = eval.Evaluate(big, gBig);
        Assert.True(double.IsFinite(logL));
        Assert.All(gBig, v => Assert.True(double.IsFinite(v)));
        Assert.Contains(gBig, v => v != 0);
        var margins = eval.Margins.ToArray();
        double qmin = margins.Min();
        Assert.Equal(eval.MinMargin, qmin);
        // log L = log Σ_i e^{−q_i} lies in [−q_min, −q_min + log m] whatever the sign of q_min (the largest term
        // alone, and m copies of it), so the bound is checked unconditionally; the margins here are of order 1e4,
        // where a naive exp would give log 0 or log ∞.
        Assert.True(margins.Max(Math.Abs) > 1e3, $"margins too small for the test: {margins.Max(Math.Abs)}");
        double slack = 1e-9 * Math.Abs(qmin);
        Assert.InRange(logL, -qmin - slack, -qmin + Math.Log(data.Count) + slack);
    }
}
