using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;
using ImplicitBias.Flow.Solvers;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Flows.Tests;

/// <summary>
/// A solve that says "event reached" has reached the target in the model's own loss: checked here with a separate
/// evaluator at the final θ, for every method (fixed-step ones included) and for ReLU networks of depth 1–5, where
/// the integrated σ drifts from log L(θ) across the units' kinks.
/// </summary>
public class HonestStatusTests
{
    private const double Target = -10;

    private static (OptimizerFlow Flow, double[] Theta0, LossEvaluator Check) ReluFlow(int depth, string optimizer, double eta0, Activation activation)
    {
        Dataset data = SyntheticData.Gaussian(32, 6, seed: 1);
        var network = new FullyConnectedNetwork(6, Enumerable.Repeat(12, depth - 1).ToArray(), activation);
        var oracle = new ModelOracle(new LossEvaluator(network, data, Loss.Exponential, maxDegreeOfParallelism: 1));
        var flow = new OptimizerFlow(oracle, OptimizerCatalog.Parts(new OptimizerSpec(optimizer, eta0), network.Layout), power: 0.8);
        return (flow, Initialization.KaimingNormal(network.Layout, seed: 3, scale: 1.0), new LossEvaluator(network, data, Loss.Exponential, maxDegreeOfParallelism: 1));
    }

    private static double ModelLogLoss(LossEvaluator check, OptimizerFlow flow, OdeResult result) =>
        check.Evaluate(flow.Theta(result.FinalState), new double[flow.Parameters.Length]);

    public static TheoryData<string> Methods() => new(MethodCatalog.All.Select(m => m.Name));

    [Theory]
    [MemberData(nameof(Methods))]
    public void EveryMethod_ReachesTheTargetOnlyInTheModelsLoss(string method)
    {
        (OptimizerFlow flow, double[] theta0, LossEvaluator check) = ReluFlow(2, "ngd", 0.5, Activation.SquaredRelu);
        OdeResult result = FlowSolver.Solve(flow, theta0, new FlowSolveOptions { Method = method, TargetLogLoss = Target, MaxTime = 1e6, FixedStep = 0.05, SaveAt = SaveAt.Nothing });
        Assert.Equal(OdeStatus.EventReached, result.Status);
        double logLoss = ModelLogLoss(check, flow, result);
        Assert.True(logLoss <= Target, $"{method}: event reached with log L(θ) = {logLoss} > {Target}");

        // σ of the final state is the model's loss there, not an integrated value.
        Assert.Equal(logLoss, flow.LogLoss(result.FinalState));
    }

    [Theory]
    [InlineData("euler", 2.0)]
    [InlineData("rk4", 4.0)]
    public void FixedStepMethod_WithATooLargeStep_NeverClaimsTheTarget(string method, double step)
    {
        // Steps far beyond stability: the run may fail or wander, but it must not report a target it did not reach
        // (with one step over the whole interval, euler once ended "reached" at log L = 1.6e18).
        (OptimizerFlow flow, double[] theta0, LossEvaluator check) = ReluFlow(2, "gd", 5.0, Activation.Relu);
        OdeResult result = FlowSolver.Solve(flow, theta0, new FlowSolveOptions { Method = method, TargetLogLoss = Target, MaxTime = 1e6, MaxSteps = 2000, FixedStep = step, SaveAt = SaveAt.Nothing });
        if (result.Status == OdeStatus.EventReached)
        {
            Assert.True(ModelLogLoss(check, flow, result) <= Target);
        }

        Assert.True(flow.Drift.ExactEvaluations >= (result.Status == OdeStatus.EventReached ? 1 : 0));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void DeepReluNetworks_ReachTheTargetInTheModelsLoss(int depth)
    {
        // Adam (ETDRK4): NGD's ReLU flows cross the kinks with tiny steps (tens of thousands of evaluations).
        (OptimizerFlow flow, double[] theta0, LossEvaluator check) = ReluFlow(depth, "adam", 0.3, Activation.Relu);
        OdeResult result = FlowSolver.Solve(flow, theta0, new FlowSolveOptions { TargetLogLoss = Target, MaxTime = 1e6, SaveAt = SaveAt.Nothing });
        Assert.Equal(OdeStatus.EventReached, result.Status);
        double logLoss = ModelLogLoss(check, flow, result);
        Assert.True(logLoss <= Target, $"depth {depth}: log L(θ) = {logLoss}");
        Assert.True(logLoss > Target - 0.5, $"depth {depth}: overshot the target to {logLoss}");

        // σ was re-anchored at every accepted step (the stepper's evaluation there is free) except the last one, which
        // ends at the event, and those that ended at an unconfirmed crossing.
        Assert.True(flow.Drift.Anchors + flow.Drift.UnconfirmedCrossings + 1 >= result.AcceptedSteps, $"{flow.Drift.Anchors} anchors for {result.AcceptedSteps} steps");
        Assert.True(double.IsFinite(flow.Drift.MaxAbsolute));
    }

    [Fact]
    public void TargetMetAtTheStart_EndsAtTimeZero()
    {
        (OptimizerFlow flow, double[] theta0, LossEvaluator check) = ReluFlow(2, "adam", 0.3, Activation.SquaredRelu);
        double logLoss0 = check.Evaluate(theta0, new double[theta0.Length]);
        OdeResult result = FlowSolver.Solve(flow, theta0, new FlowSolveOptions { TargetLogLoss = logLoss0 + 0.1, MaxTime = 1e6, SaveAt = SaveAt.Nothing });
        Assert.Equal(OdeStatus.EventReached, result.Status);
        Assert.Equal(0.0, result.FinalTime);
        Assert.Equal(theta0, flow.Theta(result.FinalState).ToArray());
    }
}
