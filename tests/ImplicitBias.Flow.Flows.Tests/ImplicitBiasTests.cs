using System.Numerics.Tensors;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;
using ImplicitBias.Flow.Solvers;

namespace ImplicitBias.Flow.Flows.Tests;

/// <summary>
/// The implicit bias on a linear predictor f(x) = ⟨θ, x⟩ (D = 1, L = 1), where the max-margin directions
/// are known in closed form. With z_i = y_i x_i, the ℓp max-margin direction maximizes min_i ⟨θ, z_i⟩ over
/// ‖θ‖_p = 1.
/// <para>
/// One sample z = (1, 0.5): ℓ2 gives z/‖z‖ = (2, 1)/√5; ℓ∞ gives (1, 1)/√2 (both coordinates of z are
/// positive, so every coordinate of θ at its bound 1 maximizes ⟨θ, z⟩).
/// </para>
/// <para>
/// Two samples z1 = (2, 0.5), z2 = (0.5, 1): the ℓ2 direction is the min-norm point of the segment
/// [z1, z2] normalized. On z1 + s(z2 − z1) = (2 − 1.5s, 0.5 + 0.5s), d|·|²/ds = 5s − 5.5 &lt; 0 on [0, 1], so the
/// minimum is at s = 1: z2 itself, direction (1, 2)/√5 (margins ⟨u, z1⟩ = 3/√5 &gt; ⟨u, z2⟩ = √5/2). For ℓ∞ both
/// ⟨θ, z_i⟩ increase in both coordinates, so θ = (1, 1) is optimal: direction (1, 1)/√2 (cosine to the ℓ2 one
/// 3/√10 ≈ 0.949).
/// </para>
/// </summary>
public class ImplicitBiasTests
{
    private static readonly double[] OneSample = [1, 0.5];
    private static readonly double[] TwoSamples = [2, 0.5, 0.5, 1];

    private static double[] Run(double[] x, string name, double eta0, double target = -100)
    {
        int d = 2;
        var data = new Dataset(x, Enumerable.Repeat(1.0, x.Length / d).ToArray(), d);
        var network = new FullyConnectedNetwork(d, [], Activation.Identity);
        var oracle = new ModelOracle(new LossEvaluator(network, data, Loss.Exponential, maxDegreeOfParallelism: 1));
        var spec = new OptimizerSpec(name, eta0, SignWidth: 1e-4);
        var flow = new OptimizerFlow(oracle, OptimizerCatalog.Parts(spec, network.Layout), power: 0.5, tolerances: new FlowTolerances(1e-8, 1e-10));
        OdeResult result = FlowSolver.Solve(flow, [0.3, -0.2], new FlowSolveOptions { TargetLogLoss = target, MaxTime = 1e9, SaveAt = SaveAt.Nothing });
        Assert.Equal(OdeStatus.EventReached, result.Status);
        double[] theta = flow.Theta(result.FinalState).ToArray();

        // The loss at the final θ from a separate evaluator (not σ of the state, which the stop event itself set),
        // and, on this linear model, by hand: log Σ_i exp(−⟨θ, z_i⟩) by log-sum-exp.
        double check = new LossEvaluator(network, data, Loss.Exponential, maxDegreeOfParallelism: 1).Evaluate(theta, new double[d]);
        double[] q = Enumerable.Range(0, x.Length / d).Select(i => (theta[0] * x[i * d]) + (theta[1] * x[(i * d) + 1])).ToArray();
        double byHand = -q.Min() + Math.Log(q.Sum(qi => Math.Exp(q.Min() - qi)));
        Assert.Equal(byHand, check, 1e-9 * Math.Abs(byHand));
        Assert.True(check <= target, $"{name}: event reached with log L(θ) = {check} > {target}");
        return theta;
    }

    private static double Cosine(double[] a, double[] b) => TensorPrimitives.CosineSimilarity(a, b);

    [Theory]
    [InlineData("ngd", -100)]
    [InlineData("nmomentum", -1000)] // momentum lags g by ~1/c1 in time, so its direction settles later
    public void L2Flows_EndAlignedWithTheL2MaxMarginDirection(string name, double target)
    {
        Assert.True(Cosine(Run(OneSample, name, 1.0, target), [2, 1]) >= 0.999);
        double[] theta = Run(TwoSamples, name, 1.0, target);
        Assert.True(Cosine(theta, [1, 2]) >= 0.999, $"cos = {Cosine(theta, [1, 2])}");
        Assert.True(Cosine(theta, [1, 1]) < 0.99);
    }

    [Theory]
    [InlineData("signgd")]
    [InlineData("signum")]
    [InlineData("adam")]
    public void LinfFlows_EndAlignedWithTheLinfMaxMarginDirection(string name)
    {
        Assert.True(Cosine(Run(OneSample, name, 0.1), [1, 1]) >= 0.999);
        double[] theta = Run(TwoSamples, name, 0.1);
        Assert.True(Cosine(theta, [1, 1]) >= 0.999, $"cos = {Cosine(theta, [1, 1])}");
        Assert.True(Cosine(theta, [1, 2]) < 0.99);
    }
}
