using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;
using ImplicitBias.Flow.Solvers;
using Xunit.Abstractions;

namespace ImplicitBias.Flow.Flows.Tests;

/// <summary>
/// Normalized GD's Jacobian model (<see cref="OptimizerFlow.JacobianModel"/>): with every factor kept it is the flow's
/// Jacobian on θ less its curvature term, both measured independently by central differences.
/// </summary>
public class JacobianModelTests(ITestOutputHelper output)
{
    private static (OptimizerFlow Flow, LossEvaluator Check, double[] Theta) Ngd(int rank, Loss loss)
    {
        Dataset data = SyntheticData.Gaussian(24, 5, seed: 2);
        var network = new FullyConnectedNetwork(5, [4], Activation.SquaredRelu);
        var oracle = new ModelOracle(new LossEvaluator(network, data, loss, maxDegreeOfParallelism: 1));
        var flow = new OptimizerFlow(oracle, OptimizerCatalog.Parts(new OptimizerSpec("ngd", 0.7), network.Layout), power: 0.8) { JacobianModelRank = rank };
        return (flow, new LossEvaluator(network, data, loss, maxDegreeOfParallelism: 1), Initialization.KaimingNormal(network.Layout, seed: 4, scale: 1.0));
    }

    /// <summary>
    /// W_model x = J x + a P Σ_i (ℓ'(z_i)/L) y_i ∇²f_i x on θ (a = η/‖∇ log L‖, P = I − ĝĝᵀ): J x from central differences
    /// of N, ∇²f_i x from central differences of the per-sample output gradients.
    /// </summary>
    [Theory]
    [InlineData("exponential")]
    [InlineData("logistic")]
    public void FullRankModel_IsTheJacobianLessItsCurvatureTerm(string lossName)
    {
        Loss loss = Loss.Parse(lossName);
        (OptimizerFlow flow, LossEvaluator check, double[] theta) = Ngd(OptimizerFlow.MaxJacobianModelRank, loss);
        int p = flow.Parameters.Length, n = flow.Layout.Length;
        const double t = 3.0;
        var y = new double[n];
        flow.InitialState(theta, y);
        var n0 = new double[n];
        flow.Evaluate(t, y, n0);
        var range = Enumerable.Range(0, p).Select(_ => new double[n]).ToArray();
        var coRange = Enumerable.Range(0, p).Select(_ => new double[n]).ToArray();
        int rank = flow.JacobianModel(t, y, n0, range, coRange);
        Assert.InRange(rank, 1, p);
        Assert.Equal(1, flow.JacobianModelBuilds);

        var random = new Random(11);
        double[] x = Enumerable.Range(0, n).Select(i => i < p ? random.NextDouble() - 0.5 : 0.0).ToArray();
        var model = new double[n];
        for (int k = 0; k < rank; k++)
        {
            double c = coRange[k].Zip(x, (a, b) => a * b).Sum();
            for (int i = 0; i < n; i++)
            {
                model[i] += range[k][i] * c;
            }
        }

        // J x on θ by central differences of N.
        const double e = 1e-6;
        double[] plus = y.Select((v, i) => v + (e * x[i])).ToArray(), minus = y.Select((v, i) => v - (e * x[i])).ToArray();
        var np = new double[n];
        var nm = new double[n];
        flow.Evaluate(t, plus, np);
        flow.Evaluate(t, minus, nm);
        double[] jx = np.Zip(nm, (a, b) => (a - b) / (2 * e)).Take(p).ToArray();

        // The curvature term Σ_i (ℓ'(z_i)/L) y_i ∇²f_i x, projected and scaled as N scales ∇² log L.
        var g = new double[p];
        check.Evaluate(theta, g);
        double[] weights = check.RelativeWeights.ToArray();
        double gNorm = Math.Sqrt(g.Sum(v => v * v));
        double eta = Math.Sqrt(n0.Take(p).Sum(v => v * v));
        double a = eta / gNorm;
        var curvature = new double[p];
        var gp = new double[p];
        var gm = new double[p];
        double[] thetaPlus = theta.Select((v, i) => v + (e * x[i])).ToArray(), thetaMinus = theta.Select((v, i) => v - (e * x[i])).ToArray();
        for (int s = 0; s < check.Data.Count; s++)
        {
            check.SampleOutputGradient(thetaPlus, s, gp);
            check.SampleOutputGradient(thetaMinus, s, gm);
            for (int i = 0; i < p; i++)
            {
                curvature[i] += weights[s] * check.Data.Label(s) * (gp[i] - gm[i]) / (2 * e);
            }
        }

        double along = curvature.Zip(g, (u, v) => u * v).Sum() / gNorm;
        double[] expected = jx.Select((v, i) => v + (a * (curvature[i] - (along * g[i] / gNorm)))).ToArray();
        double scale = Math.Sqrt(expected.Sum(v => v * v));
        double error = Math.Sqrt(expected.Zip(model, (u, v) => (u - v) * (u - v)).Sum());
        output.WriteLine($"‖W_model x‖ {Math.Sqrt(model.Take(p).Sum(v => v * v)):g6}, ‖expected‖ {scale:g6}, ‖J x‖ {Math.Sqrt(jx.Sum(v => v * v)):g6}, error {error:g3}");
        Assert.True(error < 1e-6 * scale, $"error {error:g3} against {scale:g3}");
        Assert.All(model.Skip(p), v => Assert.Equal(0.0, v)); // σ's row is left to the paid vectors
    }

    /// <summary>Only normalized GD has the model; a rank out of range is refused.</summary>
    [Fact]
    public void OtherFlows_HaveNoModel_AndRefuseARank()
    {
        Dataset data = SyntheticData.Gaussian(8, 3, seed: 1);
        var network = new FullyConnectedNetwork(3, [2], Activation.SquaredRelu);
        var oracle = new ModelOracle(new LossEvaluator(network, data, Loss.Exponential, maxDegreeOfParallelism: 1));
        var signgd = new OptimizerFlow(oracle, OptimizerCatalog.Parts(new OptimizerSpec("signgd", 0.1), network.Layout), power: 0.8);
        Assert.False(signgd.OffersJacobianModel);
        Assert.Throws<ArgumentException>(() => new OptimizerFlow(oracle, OptimizerCatalog.Parts(new OptimizerSpec("signgd", 0.1), network.Layout), power: 0.8) { JacobianModelRank = 4 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new OptimizerFlow(oracle, OptimizerCatalog.Parts(new OptimizerSpec("ngd", 0.1), network.Layout), power: 0.8) { JacobianModelRank = -1 });
        var ngd = new OptimizerFlow(oracle, OptimizerCatalog.Parts(new OptimizerSpec("ngd", 0.1), network.Layout), power: 0.8);
        Assert.True(ngd.OffersJacobianModel);
        Assert.Equal(0, ngd.JacobianModelRank);
    }

    /// <summary>
    /// A stiff NGD solve (ros34pw2 from the start) with the model reaches the target where the solve without it does,
    /// with the model built at every rebuild of W, and final margins within the tolerance's reach of the plain solve.
    /// </summary>
    [Fact]
    public void NgdWithTheModel_EndsWhereThePlainSolveEnds()
    {
        (OptimizerFlow plain, _, double[] theta) = Ngd(0, Loss.Exponential);
        (OptimizerFlow modelled, _, _) = Ngd(20, Loss.Exponential);
        var options = new FlowSolveOptions { Method = "ros34pw2", TargetLogLoss = -12, MaxTime = 1e6, SaveAt = SaveAt.Nothing };
        OdeResult a = FlowSolver.Solve(plain, theta, options);
        OdeResult b = FlowSolver.Solve(modelled, theta, options);
        output.WriteLine($"plain {a.RhsEvaluations} ({a.AcceptedSteps}+{a.RejectedSteps}) t {a.FinalTime}; model {b.RhsEvaluations} ({b.AcceptedSteps}+{b.RejectedSteps}) t {b.FinalTime}, {modelled.JacobianModelBuilds} models");
        Assert.Equal(OdeStatus.EventReached, a.Status);
        Assert.Equal(OdeStatus.EventReached, b.Status);
        Assert.True(modelled.JacobianModelBuilds > 0);
        Assert.Equal(a.FinalTime, b.FinalTime, 1e-4 * a.FinalTime);
        double[] ta = plain.Theta(a.FinalState).ToArray(), tb = modelled.Theta(b.FinalState).ToArray();
        double na = Math.Sqrt(ta.Sum(v => v * v));
        Assert.True(Math.Sqrt(ta.Zip(tb, (u, v) => (u - v) * (u - v)).Sum()) < 1e-4 * na);
    }
}
