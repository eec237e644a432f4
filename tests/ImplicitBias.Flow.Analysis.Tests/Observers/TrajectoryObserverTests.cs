using ImplicitBias.Flow.Analysis.Diagnostics;
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
    public void SharpnessAtSaves_IsTheDiagnosticsValueAtThatState_AndChangesNothingElse()
    {
        // Save:Sharpness: the observer records λmax(P⁻¹∇²L) and the threshold as PreconditionedSharpness gives them at
        // the saved state, and the run (every other column, the solver's counts) is the same as without it.
        Dataset data = SyntheticData.Gaussian(24, 3, 4);
        var network = new FullyConnectedNetwork(3, [6], Activation.ReluPower(2));
        double[] theta0 = Initialization.KaimingNormal(network.Layout, 9, 0.5);
        OptimizerFlow Flow() => new(new ModelOracle(new LossEvaluator(network, data, Loss.Exponential, 1)), OptimizerCatalog.Parts(new OptimizerSpec("adam", 0.3), network.Layout), 0.8);
        var states = new List<(double T, double[] Y)>();
        ObservedRun Run(int dimension, OptimizerFlow flow)
        {
            var observer = new TrajectoryObserver(flow, new LossEvaluator(network, data, Loss.Exponential, 1), ObservedFlow.OwnNorm(flow), theta0) { SharpnessDimension = dimension };
            var options = new FlowSolveOptions { TargetLogLoss = -20, OnSave = dimension > 0 ? (t, y) => states.Add((t, y)) : null };
            return ObservedFlow.Run(flow, new LossEvaluator(network, data, Loss.Exponential, 1), theta0, options, observer);
        }

        OptimizerFlow observed = Flow();
        ObservedRun with = Run(20, observed), without = Run(0, Flow());
        Assert.Equal(without.Result.RhsEvaluations, with.Result.RhsEvaluations);
        Assert.Equal(without.Result.FinalState, with.Result.FinalState);
        Assert.All(without.Trajectory, o => Assert.Null(o.Sharpness));
        IReadOnlyList<TrajectoryColumn> columns = TrajectoryFormat.Columns(without.Trajectory);
        foreach (TrajectoryColumn column in columns)
        {
            Assert.Equal(without.Trajectory.Values(column.Value), with.Trajectory.Values(column.Value));
        }

        Assert.Equal(columns.Count + 2, TrajectoryFormat.Columns(with.Trajectory).Count);
        // One observation per save, and the end of the run when it is not a save time.
        Assert.InRange(with.Trajectory.Count - states.Count, 0, 1);
        foreach (int i in new[] { 1, states.Count / 2, states.Count - 1 })
        {
            SharpnessResult direct = PreconditionedSharpness.Compute(observed, states[i].T, states[i].Y, 20)!;
            Assert.Equal(direct.Largest, with.Trajectory[i].Sharpness!.Largest);
            Assert.Equal(direct.Threshold, with.Trajectory[i].Sharpness!.Threshold);
            Assert.True(direct.Largest > 0);
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
