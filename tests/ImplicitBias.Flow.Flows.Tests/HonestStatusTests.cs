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
    [Fact]
    public void ZigzaggingSteps_AreFlaggedOffTheFlow_AndAnAdaptiveSolveIsNot()
    {
        // Euler's normalized steps of length η h, far longer than the curvature allows, overshoot across the valley of
        // log L at every step: the integrated σ says log L fell by η ‖∇ log L‖ h each step, log L(θ) hardly moves.
        (OptimizerFlow flow, double[] theta0, _) = ReluFlow(2, "ngd", 0.5, Activation.SquaredRelu);
        OdeResult zigzag = FlowSolver.Solve(flow, theta0, new FlowSolveOptions { Method = "euler", FixedStep = 2.0, TargetLogLoss = -1e5, MaxTime = 1e6, MaxSteps = 1000, SaveAt = SaveAt.Nothing });
        Assert.Equal(OdeStatus.MaxStepsReached, zigzag.Status);
        Assert.Equal(5, flow.Drift.Windows);
        Assert.True(flow.Drift.OffFlowWindows > 0, $"accumulated {flow.Drift.Accumulated:g3}");
        Assert.True(flow.Drift.FirstOffFlowTime > 0);
        Assert.NotNull(flow.Drift.OffFlowWarning());

        // Heun–Euler (order 2) follows the flow in enough steps to fill windows, none of them off the flow.
        OdeResult followed = FlowSolver.Solve(flow, theta0, new FlowSolveOptions { Method = "heun-euler", TargetLogLoss = -60, MaxTime = 1e9, SaveAt = SaveAt.Nothing });
        Assert.Equal(OdeStatus.EventReached, followed.Status);
        Assert.True(flow.Drift.Windows > 0, $"{followed.AcceptedSteps} steps");
        Assert.Equal(0, flow.Drift.OffFlowWindows);
        Assert.Null(flow.Drift.OffFlowWarning());
        Assert.True(Math.Abs(flow.Drift.Accumulated) < 1e-3 * Math.Abs(flow.Drift.StartLogLoss + 60), $"accumulated {flow.Drift.Accumulated:g3}");
    }

    [Fact]
    public void DriftWindows_CountOneSignedDriftBeyondHalfTheChange()
    {
        var drift = new LogLossDrift { StartLogLoss = 0 };
        double logLoss = 0;
        // Window 1: log L falls 1 over the window, drifts of alternating sign (a solve that follows the flow).
        for (int i = 0; i < LogLossDrift.Window; i++)
        {
            double previous = logLoss;
            logLoss -= 1.0 / LogLossDrift.Window;
            drift.AddStep(i, i % 2 == 0 ? 1e-4 : -1e-4, logLoss, previous);
        }

        Assert.Equal((1, 0), (drift.Windows, drift.OffFlowWindows));
        Assert.Equal(0, drift.WorstWindowShare, 1e-12);
        // Window 2: log L falls 0.1, σ claims 0.3 more (one sign): off the flow, first at its last step's time.
        for (int i = 0; i < LogLossDrift.Window; i++)
        {
            double previous = logLoss;
            logLoss -= 0.1 / LogLossDrift.Window;
            drift.AddStep(1000 + i, -0.3 / LogLossDrift.Window, logLoss, previous);
        }

        Assert.Equal((2, 1), (drift.Windows, drift.OffFlowWindows));
        Assert.Equal((1, 0.1), (drift.Tightenings, drift.ToleranceScale));
        Assert.Equal(3, drift.WorstWindowShare, 1e-9);
        Assert.Equal(1000 + LogLossDrift.Window - 1, drift.FirstOffFlowTime);
        Assert.Equal(-0.3, drift.Accumulated, 1e-12);
        Assert.Contains("1 of 2 windows", drift.OffFlowWarning(), StringComparison.Ordinal);
        Assert.Contains("tightened 10x", drift.OffFlowWarning(), StringComparison.Ordinal);

        // Two more windows off the flow: the tolerances are tightened at most twice.
        for (int i = 0; i < 2 * LogLossDrift.Window; i++)
        {
            double previous = logLoss;
            logLoss -= 0.1 / LogLossDrift.Window;
            drift.AddStep(2000 + i, -0.3 / LogLossDrift.Window, logLoss, previous);
        }

        Assert.Equal((4, 3, LogLossDrift.MaxTightenings), (drift.Windows, drift.OffFlowWindows, drift.Tightenings));
        Assert.Equal(0.01, drift.ToleranceScale, 1e-15);
    }
}
