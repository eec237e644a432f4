using ImplicitBias.Flow.Analysis.Observers;
using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;

namespace ImplicitBias.Flow.Analysis.Tests.Observers;

/// <summary>
/// The observer reads the margins and the ReLU pattern from the CPU oracle's own forward pass when it can
/// (one forward pass less per save); these tests pin that shortcut to the independent computations.
/// </summary>
public class TrajectoryObserverTests
{
    /// <summary>An oracle that is not a <see cref="ModelOracle"/>, so the observer takes its own forward pass.</summary>
    private sealed class OpaqueOracle(LossEvaluator evaluator) : IGradientOracle
    {
        public ParameterLayout Layout => evaluator.Network.Layout;

        public double Evaluate(ReadOnlySpan<double> theta, Span<double> relativeGradient) => evaluator.Evaluate(theta, relativeGradient);
    }

    [Theory]
    [InlineData(1, 3)]
    [InlineData(2, 5)]
    public void PatternFromTheForwardPass_EqualsAnIndependentScalarForwardPass(int hiddenLayers, int width)
    {
        Dataset data = SyntheticData.Gaussian(37, 4, 11);
        var network = new FullyConnectedNetwork(4, Enumerable.Repeat(width, hiddenLayers).ToArray(), Activation.Relu);
        var evaluator = new LossEvaluator(network, data, Loss.Logistic, 2);
        for (ulong seed = 1; seed <= 3; seed++)
        {
            double[] theta = Initialization.KaimingNormal(network.Layout, seed, 1.0);
            evaluator.EvaluateLoss(theta);
            var pattern = new sbyte[ActivationPattern.Length(network, data.Count)];
            ActivationPattern.FromLastForward(evaluator, pattern);
            sbyte[] reference = ActivationPattern.Compute(network, data, theta);
            Assert.Equal(reference, pattern);
            Assert.Contains((sbyte)1, pattern);
            Assert.Contains((sbyte)0, pattern);
        }
    }

    [Fact]
    public void ObserverWithTheCpuOracle_WritesTheSameTableAsWithAnOpaqueOracle()
    {
        Dataset data = SyntheticData.Gaussian(24, 3, 4);
        var network = new FullyConnectedNetwork(3, [6], Activation.ReluPower(2));
        double[] theta0 = Initialization.KaimingNormal(network.Layout, 9, 0.5);
        var options = new FlowSolveOptions { TargetLogLoss = -50 };

        ObservedRun Observe(IGradientOracle oracle)
        {
            var flow = new OptimizerFlow(oracle, OptimizerCatalog.Parts(new OptimizerSpec("signum", 0.1), network.Layout), 0.8);
            return ObservedFlow.Run(flow, new LossEvaluator(network, data, Loss.Exponential, 1), theta0, options);
        }

        ObservedRun shortcut = Observe(new ModelOracle(new LossEvaluator(network, data, Loss.Exponential, 1)));
        ObservedRun separate = Observe(new OpaqueOracle(new LossEvaluator(network, data, Loss.Exponential, 1)));
        Assert.Equal(separate.Trajectory.Count, shortcut.Trajectory.Count);
        Assert.True(shortcut.Trajectory.Count > 50);
        IReadOnlyList<TrajectoryColumn> columns = TrajectoryFormat.Columns(separate.Trajectory);
        Assert.Equal(columns.Select(c => c.Name), TrajectoryFormat.Columns(shortcut.Trajectory).Select(c => c.Name));
        foreach (TrajectoryColumn column in columns)
        {
            double[] a = shortcut.Trajectory.Values(column.Value), b = separate.Trajectory.Values(column.Value);
            for (int i = 0; i < a.Length; i++)
            {
                Assert.True(a[i].Equals(b[i]) || Math.Abs(a[i] - b[i]) <= 1e-12 * Math.Max(1, Math.Abs(b[i])), $"{column.Name}[{i}]: {a[i]} vs {b[i]}");
            }
        }

        // The run crosses ReLU kinks and sign switches of m: the counters see them.
        Assert.True(shortcut.Trajectory.Sum(o => o.PatternChanges!.Value) > 0);
        Assert.True(shortcut.Trajectory.Sum(o => o.SignSwitches) > 0);
    }

    [Fact]
    public void CompositeOfOneOptimizerOnBothBlocks_KeepsEachPartsMomentumValues()
    {
        // Muon on the matrices and on the output row: two parts of one name. Each keeps its own per-part values and
        // columns (muon1, muon2); one name for both would put the output row's values in the matrices' column.
        Dataset data = SyntheticData.Gaussian(16, 3, 5);
        var network = new FullyConnectedNetwork(3, [4], Activation.ReluPower(2));
        double[] theta0 = Initialization.KaimingNormal(network.Layout, 3, 0.5);
        var muon = new OptimizerSpec("muon", 0.1);
        var flow = new OptimizerFlow(new ModelOracle(new LossEvaluator(network, data, Loss.Exponential, 1)), OptimizerCatalog.Composite(muon, muon, muon, network.Layout), 0.8);
        ObservedRun run = ObservedFlow.Run(flow, new LossEvaluator(network, data, Loss.Exponential, 1), theta0, new FlowSolveOptions { TargetLogLoss = -5 });
        Observation last = run.Trajectory.Last!;
        Assert.Equal(["muon1", "muon2"], last.Parts.Select(p => p.Part));
        Assert.NotEqual(last.Parts[0].MomentumRatio, last.Parts[1].MomentumRatio);
        string[] names = TrajectoryFormat.Columns(run.Trajectory).Select(c => c.Name).ToArray();
        Assert.Contains("momentumRatio_muon1", names);
        Assert.Contains("momentumRatio_muon2", names);
        Assert.Equal(names.Length, names.Distinct().Count());
    }
}
