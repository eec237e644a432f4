using ImplicitBias.Flow.Solvers;

namespace ImplicitBias.Flow.Flows.Tests;

/// <summary>The default stepper is the measured cheapest (STEPPERS.md) for two representative optimizers.</summary>
public class StepperChoiceTests
{
    private static long Evaluations(string optimizer, string method)
    {
        (OptimizerFlow flow, double[] theta0) = LongRunTests.SquaredReluFlow(optimizer, 0.3);
        OdeResult result = FlowSolver.Solve(flow, theta0, new FlowSolveOptions { Method = method, TargetLogLoss = -30, MaxTime = 1e15, SaveAt = SaveAt.Nothing, KeepSavedStates = false });
        Assert.Equal(OdeStatus.EventReached, result.Status);

        // A cheap stepper counts only if it got there: the model's loss at the final θ is at the target, and the
        // run ended on the target, not long past it (which a step that skipped over the event would show).
        double logLoss = LongRunTests.SquaredReluLogLoss(flow.Theta(result.FinalState));
        Assert.InRange(logLoss, -30.5, -30);
        return result.RhsEvaluations;
    }

    [Theory]
    [InlineData("adam", "etdrk4")]
    [InlineData("muon", "tsit5")]
    public void DefaultStepper_IsTheMeasuredChoice_AndNoDearerThanDopri5(string optimizer, string expected)
    {
        (OptimizerFlow flow, _) = LongRunTests.SquaredReluFlow(optimizer, 0.3);
        Assert.Equal(expected, FlowSolver.DefaultMethod(flow).Name);
        long auto = Evaluations(optimizer, "auto"), dopri5 = Evaluations(optimizer, "dopri5");
        Assert.True(auto <= dopri5, $"{optimizer}: default {auto} evaluations, dopri5 {dopri5}");
    }
}
