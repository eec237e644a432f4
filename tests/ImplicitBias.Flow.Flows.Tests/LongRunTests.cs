using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;
using ImplicitBias.Flow.Solvers;

namespace ImplicitBias.Flow.Flows.Tests;

public class LongRunTests
{
    internal static (OptimizerFlow Flow, double[] Theta0) SquaredReluFlow(string name, double eta0, int samples = 32, int width = 10, FlowTolerances? tolerances = null)
    {
        Dataset data = SyntheticData.Gaussian(samples, 5, seed: 4);
        var network = new FullyConnectedNetwork(5, [width], Activation.SquaredRelu);
        var oracle = new ModelOracle(new LossEvaluator(network, data, Loss.Exponential, maxDegreeOfParallelism: 1));
        var flow = new OptimizerFlow(oracle, OptimizerCatalog.Parts(new OptimizerSpec(name, eta0), network.Layout), power: 0.8, tolerances: tolerances);
        return (flow, Initialization.KaimingNormal(network.Layout, seed: 2, scale: 0.5));
    }

    /// <summary>
    /// log L(θ) of <see cref="SquaredReluFlow"/>'s model by a separate evaluator (not the flow's oracle, not σ): what a
    /// test checks a "target reached" against.
    /// </summary>
    internal static double SquaredReluLogLoss(ReadOnlySpan<double> theta, int samples = 32, int width = 10)
    {
        var network = new FullyConnectedNetwork(5, [width], Activation.SquaredRelu);
        var evaluator = new LossEvaluator(network, SyntheticData.Gaussian(samples, 5, seed: 4), Loss.Exponential, maxDegreeOfParallelism: 1);
        return evaluator.Evaluate(theta, new double[theta.Length]);
    }

    /// <summary>
    /// Adam's flow to log L = −1000 stays finite and ṽ ≥ 0. ETDRK4 integrates ṽ's decay exactly and keeps ṽ ≥ 0 to the
    /// last bit; the default (ETDRK4, then the Rosenbrock-W method) may leave a coordinate whose ṽ decays to 0 a
    /// tolerance below it (measured −8.2e-10 against the absolute tolerance 1e-9; with W's ṽ weighed against the block
    /// instead of its own size, −12), which the field reads as 0.
    /// </summary>
    [Theory]
    [InlineData("etdrk4", 0.0)]
    [InlineData("auto", 1e-9)]
    public void AdamFlow_OnTwoLayerSquaredRelu_ReachesLogLossMinus1000_FiniteWithNonNegativeV(string method, double slack)
    {
        // η0 = 0.3: with the paper's 5e-3 the same flow needs t ≈ 1e11 (∫η grows like t^0.2) to get there.
        (OptimizerFlow flow, double[] theta0) = SquaredReluFlow("adam", 0.3);
        int v = flow.Layout.Offset(flow.SecondMomentBlock(0)), vLength = flow.Parameters.Length;
        int checkedStates = 0;
        double minV = double.PositiveInfinity;
        OdeResult result = FlowSolver.Solve(flow, theta0, new FlowSolveOptions
        {
            TargetLogLoss = -1000,
            MaxTime = 1e15,
            Method = method,
            SaveAt = SaveAt.EveryStep(),
            KeepSavedStates = false,
            OnSave = (_, y) =>
            {
                checkedStates++;
                Assert.All(y, x => Assert.True(double.IsFinite(x)));
                for (int j = 0; j < vLength; j++)
                {
                    minV = Math.Min(minV, y[v + j]);
                }
            },
        });
        Assert.Equal(OdeStatus.EventReached, result.Status);
        double check = SquaredReluLogLoss(flow.Theta(result.FinalState));
        Assert.True(check <= -1000, $"event reached with the model's log L(θ) = {check}");
        // Every accepted step was saved and checked (the step that ends at the event is cut to it: final state).
        Assert.True(checkedStates >= result.AcceptedSteps, $"{checkedStates} states for {result.AcceptedSteps} steps");
        Assert.All(result.FinalState, x => Assert.True(double.IsFinite(x)));
        Assert.True(minV >= -slack, $"min v = {minV}");
    }
}
