using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Solvers.Tests;

public class DiscreteMapTests
{
    private static readonly StateLayout Layout = StateLayout.Single(2, 1e-6, 1e-9);

    /// <summary>
    /// Gradient descent on f(x) = a x²/2 as a map over the state (x, log f(x)), carrying the evaluation (f′(x), log f(x)):
    /// x_{n+1} = x_n − h η f′(x_n). With a = 1, η = 1, h = 1/2 every iterate is x0/2ⁿ exactly.
    /// </summary>
    private sealed class HalvingMap(double stepSize = 0.5, double a = 1.0) : IDiscreteMapTerm<HostState>
    {
        public double StepSize => stepSize;

        public long Evaluations { get; private set; }

        public List<double> StepTimes { get; } = [];

        public void Evaluate(double t, HostState y, HostState evaluation)
        {
            Evaluations++;
            double x = y.Values[0];
            evaluation.Values[0] = a * x;
            evaluation.Values[1] = Math.Log(Math.Abs(a)) + (2 * Math.Log(Math.Abs(x))) - Math.Log(2);
        }

        public void Step(double t, double h, HostState y, HostState evaluation, HostState yNext, HostState nextEvaluation)
        {
            StepTimes.Add(t);
            double x = y.Values[0] - (StepSize * evaluation.Values[0]);
            yNext.Values[0] = x;
            Evaluate(t + h, yNext, nextEvaluation);
            yNext.Values[1] = nextEvaluation.Values[1];
        }
    }

    private static OdeResult Solve(IDiscreteMapTerm<HostState> map, double t1, OdeOptions<HostState> options, double x0 = 8.0) =>
        OdeSolver.Solve(map, new HostStateAlgebra(Layout), new DiscreteMap(), 0, t1, new HostState([x0, Math.Log(x0 * x0 / 2)]), options);

    [Fact]
    public void FixedSteps_ApplyTheMapOncePerStep_WithOneEvaluationEach()
    {
        var map = new HalvingMap();
        OdeResult result = Solve(map, 3, new OdeOptions<HostState> { FixedStep = 0.5, SaveAt = SaveAt.Times(0, 1, 3) });
        Assert.Equal(OdeStatus.Success, result.Status);
        Assert.Equal([0.0, 1.0, 3.0], result.SavedTimes);
        Assert.Equal([8.0, 2.0, 0.125], result.SavedStates.Select(s => s[0]));
        Assert.Equal(0.125, result.FinalState[0]);
        Assert.Equal(6, result.AcceptedSteps);

        // One evaluation at the start, then the map's own one per step.
        Assert.Equal(7, result.RhsEvaluations);
        Assert.Equal(7, map.Evaluations);
        Assert.Equal([0, 0.5, 1, 1.5, 2, 2.5], map.StepTimes);
    }

    [Fact]
    public void Event_EndsAtTheStepWhereItIsMet_JudgedThereOnTheExactCondition()
    {
        // log f = log(x²/2) with x = 8/2ⁿ: log 32, log 8, log 2, log 0.5, … The target log 1 is first met at n = 3, t = 1.5.
        int exactCalls = 0;
        var ev = new OdeEvent<HostState>((_, y) => y.Values[1], EventDirection.Falling)
        {
            ExactCondition = (_, y) =>
            {
                exactCalls++;
                return Math.Log(y.Values[0] * y.Values[0] / 2);
            },
        };
        OdeResult result = Solve(new HalvingMap(), 10, new OdeOptions<HostState> { FixedStep = 0.5, Events = [ev], SaveAt = SaveAt.EveryStep() });
        Assert.Equal(OdeStatus.EventReached, result.Status);
        Assert.Equal(1.5, result.FinalTime);
        Assert.Equal(1.0, result.FinalState[0]);
        Assert.Equal(1.5, result.SavedTimes[^1]);

        // Judged once, at the end of the step where the tracked condition crossed: nothing is interpolated.
        Assert.Equal(1, exactCalls);

        // A crossing that the exact condition does not confirm does not end the run.
        var unconfirmed = ev with { ExactCondition = (_, _) => 1.0 };
        OdeResult goesOn = Solve(new HalvingMap(), 10, new OdeOptions<HostState> { FixedStep = 0.5, Events = [unconfirmed] });
        Assert.Equal(OdeStatus.Success, goesOn.Status);
        Assert.Equal(10.0, goesOn.FinalTime);
    }

    [Fact]
    public void MaxSteps_StopsAfterThatManyMaps()
    {
        OdeResult result = Solve(new HalvingMap(), 100, new OdeOptions<HostState> { FixedStep = 0.5, MaxSteps = 4 });
        Assert.Equal(OdeStatus.MaxStepsReached, result.Status);
        Assert.Equal(2.0, result.FinalTime);
        Assert.Equal(0.5, result.FinalState[0]);
    }

    [Fact]
    public void NonFiniteStep_EndsAtTheLastFiniteState()
    {
        // x ← x − h a x with a h = −1e300: 8 → 8e300 → ∞ (the carried f′ = a x overflows first, the state then).
        OdeResult result = Solve(new HalvingMap(stepSize: 1, a: -1e300), 10, new OdeOptions<HostState> { FixedStep = 1 });
        Assert.Equal(OdeStatus.NonFiniteState, result.Status);
        Assert.Equal(1.0, result.FinalTime);
        Assert.True(double.IsFinite(result.FinalState[0]) && result.FinalState[0] > 1e300);
    }

    [Fact]
    public void CheckpointThenResume_IsBitIdentical_WithoutAnExtraEvaluation()
    {
        OdeOptions<HostState> Options(Func<bool>? due = null, Action<OdeCheckpoint>? write = null, OdeCheckpoint? resume = null) => new()
        {
            FixedStep = 0.5,
            SaveAt = SaveAt.Times(0, 1, 2, 4, 7),
            CheckpointDue = due,
            Checkpoint = write,
            ResumeFrom = resume,
        };
        OdeResult whole = Solve(new HalvingMap(), 7, Options());
        var checkpoints = new List<OdeCheckpoint>();
        int asked = 0;
        Solve(new HalvingMap(), 7, Options(() => ++asked % 5 == 0, checkpoints.Add));
        Assert.True(checkpoints.Count >= 2);
        foreach (OdeCheckpoint c in checkpoints)
        {
            var map = new HalvingMap();
            OdeResult resumed = Solve(map, 7, Options(resume: c));
            Assert.Equal(whole.FinalState, resumed.FinalState);
            Assert.Equal(whole.AcceptedSteps, resumed.AcceptedSteps);
            Assert.Equal(whole.RhsEvaluations, resumed.RhsEvaluations);
            Assert.Equal(whole.AcceptedSteps - c.AcceptedSteps, map.Evaluations);
            Assert.Equal(whole.SavedTimes.TakeLast(resumed.SavedTimes.Count), resumed.SavedTimes);
        }
    }

    [Fact]
    public void Cancellation_EndsBetweenTwoMaps()
    {
        using var cancel = new CancellationTokenSource();
        var map = new HalvingMap();
        OdeResult result = Solve(map, 100, new OdeOptions<HostState>
        {
            FixedStep = 0.5,
            Cancellation = cancel.Token,
            StepCallback = info =>
            {
                if (info.AcceptedSteps == 3)
                {
                    cancel.Cancel();
                }
            },
        });
        Assert.Equal(OdeStatus.Cancelled, result.Status);
        Assert.Equal(1.5, result.FinalTime);
        Assert.Equal(3, map.StepTimes.Count);
    }

    [Fact]
    public void SaveTimeBetweenIterates_IsRefused_AndATermWithoutAMapIsRefused()
    {
        // A map has no dense output: asking for a state between two iterates is a programming error, not a guess.
        Assert.Throws<InvalidOperationException>(() => Solve(new HalvingMap(), 3, new OdeOptions<HostState> { FixedStep = 0.5, SaveAt = SaveAt.Times(0.75) }));
        Assert.Throws<ArgumentException>(() => OdeSolver.Solve(new HostOdeTerm((_, _, f) => f.Clear()), new HostStateAlgebra(Layout), new DiscreteMap(), 0, 1, new HostState(2), new OdeOptions<HostState> { FixedStep = 0.5 }));
    }
}
