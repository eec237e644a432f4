using ImplicitBias.Flow.Core.Geometry;
using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;
using ImplicitBias.Flow.Solvers;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Analysis.Tests.Verification;

/// <summary>
/// The margins of Eq. 9–10 on random networks, and Corollary B.8 on a scalar EMA integrated by the engine.
/// </summary>
public class MarginTests
{
    /// <summary>
    /// A random two-layer squared-ReLU network (L = 3) and Gaussian inputs labelled by that same network, so
    /// that q_min(θ) &gt; 0 and γ̃ is defined once θ is scaled up.
    /// </summary>
    private static (LossEvaluator Evaluator, double[] Theta) RandomTeacher(ulong seed)
    {
        int m = 24, d = 4;
        var network = new FullyConnectedNetwork(d, [6], Activation.ReluPower(2));
        double[] theta = Initialization.KaimingNormal(network.Layout, seed, 1.0);
        Dataset inputs = SyntheticData.Gaussian(m, d, seed);
        var outputs = new double[m];
        new LossEvaluator(network, inputs, Loss.Exponential, 1).ForwardOutputs(theta, outputs);
        // Inputs on which every hidden unit is off have f = 0 (margin 0 whatever the label): leave them out.
        double cut = 1e-6 * outputs.Max(Math.Abs);
        int[] kept = Enumerable.Range(0, m).Where(i => Math.Abs(outputs[i]) > cut).ToArray();
        double[] x = kept.SelectMany(i => inputs.Input(i).ToArray()).ToArray();
        double[] labels = kept.Select(i => outputs[i] > 0 ? 1.0 : -1.0).ToArray();
        return (new LossEvaluator(network, new Dataset(x, labels, d), Loss.Exponential, 1), theta);
    }

    private static double[] Scale(double[] theta, double alpha) => theta.Select(v => v * alpha).ToArray();

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void HardMargin_IsScaleInvariant_SoftMarginIsBelowIt_WithinLogMOverNormToTheL(ulong seed)
    {
        var (evaluator, theta) = RandomTeacher(seed);
        double degree = evaluator.Network.HomogeneityDegree;
        Assert.Equal(3, degree);
        Norm[] norms = [Norms.L2, Norms.LInf, Norms.Msp(evaluator.Network.Layout)];
        int m = evaluator.Data.Count;
        foreach (Norm norm in norms)
        {
            evaluator.EvaluateLoss(theta);
            Assert.True(evaluator.MinMargin > 0);
            double gamma1 = evaluator.MinMargin / Math.Pow(norm.Value(theta), degree);
            int softChecked = 0;
            foreach (double alpha in new[] { 0.3, 2.0, 10.0, 1e3 })
            {
                double[] scaled = Scale(theta, alpha);
                double logLoss = evaluator.EvaluateLoss(scaled);
                double sizeL = Math.Pow(norm.Value(scaled), degree);
                double gamma = evaluator.MinMargin / sizeL;

                // Eq. 9: γ(αθ) = γ(θ) exactly (q_min is L-homogeneous, so is ‖·‖^L).
                Assert.Equal(gamma1, gamma, 1e-12 * Math.Abs(gamma1));

                // Eq. 10 with φ(u) = u (exponential loss): γ̃ = log(1/L)/‖θ‖^L, defined when log 1/L > 0.
                if (-logLoss > 0)
                {
                    double soft = -logLoss / sizeL;

                    // Lemma C.2: γ̃ ≤ γ and γ − γ̃ ≤ log m/‖θ‖^L, since e^{−q_min} ≤ L ≤ m e^{−q_min}.
                    Assert.True(soft <= gamma * (1 + 1e-12), $"γ̃ = {soft} > γ = {gamma}");
                    Assert.True(gamma - soft <= (Math.Log(m) / sizeL) * (1 + 1e-9), $"gap {gamma - soft} > log m/‖θ‖^L = {Math.Log(m) / sizeL}");
                    softChecked++;
                }
            }

            // Only asymptotically scale invariant: γ̃(αθ) → γ(θ) as α grows.
            double big = -evaluator.EvaluateLoss(Scale(theta, 1e3)) / Math.Pow(norm.Value(Scale(theta, 1e3)), degree);
            double small = -evaluator.EvaluateLoss(Scale(theta, 10)) / Math.Pow(norm.Value(Scale(theta, 10)), degree);
            // (Up to rounding: when the second-smallest margin is far above q_min, γ̃ already equals γ to the last
            // bits at α = 10, and which of the two lands closer is decided by the evaluator's summation order.)
            Assert.True(Math.Abs(gamma1 - big) <= Math.Abs(gamma1 - small) + (1e-13 * Math.Abs(gamma1)), $"|γ − γ̃(1e3 θ)| = {Math.Abs(gamma1 - big)}, |γ − γ̃(10 θ)| = {Math.Abs(gamma1 - small)}");
            Assert.True(softChecked >= 2);
        }
    }

    /// <summary>
    /// Corollary B.8 on A(g, c) for g(t) = e^{−kt}: dA/dt = c (g − A), A(0) = 0, integrated by the engine.
    /// A/g → c/(c − k) for k &lt; c; for k ≥ c it grows without bound (ct for k = c, e^{(k−c)t} for k &gt; c).
    /// </summary>
    private static (double[] Times, double[] Ratio) Ema(double c, double k, double[] times)
    {
        var term = new HostOdeTerm((t, y, dydt) => dydt[0] = c * (Math.Exp(-k * t) - y[0]));
        var algebra = new HostStateAlgebra(StateLayout.Single(1, relTol: 1e-10, absTol: 1e-300));
        OdeResult result = OdeSolver.Solve(term, algebra, MethodCatalog.Find("dopri5")!, 0.0, times[^1], new HostState(1), new OdeOptions<HostState> { SaveAt = SaveAt.Times(times) });
        Assert.Equal(OdeStatus.Success, result.Status);
        double[] saved = result.SavedTimes.ToArray();
        return (saved, saved.Select((t, i) => result.SavedStates[i][0] / Math.Exp(-k * t)).ToArray());
    }

    [Fact]
    public void CorollaryB8_KBelowC_RatioTendsToCOverCMinusK()
    {
        double c = 1, k = 0.5;
        var (_, ratio) = Ema(c, k, [5, 10, 20, 40, 60]);
        Assert.Equal(c / (c - k), ratio[^1], 1e-6);
        Assert.True(Math.Abs(ratio[0] - 2) > Math.Abs(ratio[1] - 2)); // approaches from below
    }

    [Theory]
    [InlineData(1.0)] // k = c: A/g = ct
    [InlineData(1.5)] // k > c: A/g = c/(k − c)(e^{(k−c)t} − 1)
    public void CorollaryB8_KAtOrAboveC_RatioGrowsWithoutBoundOverDecades(double k)
    {
        double c = 1;
        var (times, ratio) = Ema(c, k, [1, 10, 100]);
        Assert.True(ratio[1] > 5 * ratio[0], $"A/g: {ratio[0]} → {ratio[1]}");
        Assert.True(ratio[2] > 5 * ratio[1], $"A/g: {ratio[1]} → {ratio[2]}");
        double exact = k == c ? c * times[2] : c / (k - c) * (Math.Exp((k - c) * times[2]) - 1);
        Assert.Equal(exact, ratio[2], 1e-6 * exact);
    }
}
