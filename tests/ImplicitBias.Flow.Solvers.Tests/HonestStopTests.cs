using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Exponential;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Solvers.Tests;

/// <summary>Fixed steps of a given size, events that hold at the start or need confirming, the after-step hook.</summary>
public class HonestStopTests
{
    private static readonly HostRhs Decay = (t, y, f) => f[0] = -y[0];

    private static OdeResult SolveDecay(OdeMethod method, double t1, OdeOptions<HostState> options) =>
        OdeSolver.Solve(new HostOdeTerm(Decay), new HostStateAlgebra(StateLayout.Single(1, 1e-8, 1e-8)), method, 0, t1, new HostState([1.0]), options);

    [Theory]
    [InlineData("euler", 1)]
    [InlineData("rk4", 4)]
    public void FixedStep_TakesStepsOfTheGivenSizeAndLandsOnT1(string name, int order)
    {
        OdeMethod method = MethodCatalog.Find(name)!;
        OdeResult result = SolveDecay(method, 1.05, new OdeOptions<HostState> { FixedStep = 0.1 });
        Assert.Equal(OdeStatus.Success, result.Status);
        Assert.Equal(11, result.AcceptedSteps); // ten of 0.1 and a last one of 0.05
        Assert.Equal(1.05, result.FinalTime);

        // The propagated solution is the method's: for euler (1 − h)^10 (1 − 0.05); the error shrinks as h^order.
        double expected = name == "euler" ? Math.Pow(0.9, 10) * 0.95 : Math.Exp(-1.05);
        Assert.Equal(expected, result.FinalState[0], order == 1 ? 1e-14 : 1e-5);
    }

    [Fact]
    public void FixedStep_IsBoundedByMaxSteps()
    {
        OdeResult result = SolveDecay(new Euler(), 1e9, new OdeOptions<HostState> { FixedStep = 0.5, MaxSteps = 7 });
        Assert.Equal(OdeStatus.MaxStepsReached, result.Status);
        Assert.Equal(7, result.AcceptedSteps);
        Assert.Equal(3.5, result.FinalTime);
    }

    [Fact]
    public void FixedMethodWithoutStep_IsRefused()
    {
        Assert.Throws<ArgumentException>(() => SolveDecay(new Euler(), 1, new OdeOptions<HostState>()));
        Assert.Throws<ArgumentException>(() => SolveDecay(new Euler(), 1, new OdeOptions<HostState> { FixedStep = 0 }));
    }

    [Fact]
    public void EventThatHoldsAtTheStart_EndsTheSolveAtT0()
    {
        var ev = new OdeEvent<HostState>((_, y) => y.Values[0] - 2.0, EventDirection.Falling) { FiresAtStart = true };
        OdeResult result = SolveDecay(new DormandPrince5(), 10, new OdeOptions<HostState> { Events = [ev] });
        Assert.Equal(OdeStatus.EventReached, result.Status);
        Assert.Equal(0.0, result.FinalTime);
        Assert.Equal(0, result.AcceptedSteps);

        // Without FiresAtStart a condition already past its crossing never fires (the classic semantics).
        OdeResult plain = SolveDecay(new DormandPrince5(), 10, new OdeOptions<HostState> { Events = [ev with { FiresAtStart = false }] });
        Assert.Equal(OdeStatus.Success, plain.Status);
    }

    [Fact]
    public void EventWithAnExactCondition_IsLocatedOnTheExactCondition()
    {
        // The tracked component y[1] integrates y' = −1 from 0.5, "drifted" 0.5 below the truth 1 − t. The tracked
        // condition crosses at t = 0.5, where the exact one (1 − t) has not: the solve goes on, and ends where the
        // exact condition crosses, t = 1.
        HostRhs rhs = (t, y, f) =>
        {
            f[0] = -y[0];
            f[1] = -1;
        };
        int exactCalls = 0;
        var ev = new OdeEvent<HostState>((_, y) => y.Values[1], EventDirection.Falling)
        {
            ExactCondition = (t, _) =>
            {
                exactCalls++;
                return 1 - t;
            },
        };
        OdeResult result = OdeSolver.Solve(new HostOdeTerm(rhs), new HostStateAlgebra(StateLayout.Single(2, 1e-10, 1e-10)), new DormandPrince5(), 0, 10, new HostState([1.0, 0.5]), new OdeOptions<HostState> { Events = [ev], MaxStep = 0.05 });
        Assert.Equal(OdeStatus.EventReached, result.Status);
        Assert.InRange(result.FinalTime, 1.0, 1.0 + 1e-9);
        Assert.Equal(Math.Exp(-result.FinalTime), result.FinalState[0], 1e-8);
        Assert.InRange(exactCalls, 2, 200);
    }

    [Fact]
    public void ExactConditionThatNeverCrosses_NeverEndsTheSolve()
    {
        // The tracked condition crosses; the exact one stays positive (the target is never met): no event, no loop.
        var ev = new OdeEvent<HostState>((_, y) => y.Values[0] - 0.5, EventDirection.Falling) { ExactCondition = (_, _) => 1e-13 };
        OdeResult result = SolveDecay(new DormandPrince5(), 10, new OdeOptions<HostState> { Events = [ev] });
        Assert.Equal(OdeStatus.Success, result.Status);
        Assert.Equal(10.0, result.FinalTime);
    }

    [Fact]
    public void AfterStep_CorrectionsCarryIntoTheNextStep()
    {
        // y[1] is integrated with a wrong rate (0) and corrected to e^{−t} after each step: it ends exact.
        HostRhs rhs = (t, y, f) =>
        {
            f[0] = -y[0];
            f[1] = 0;
        };
        int calls = 0;
        var options = new OdeOptions<HostState>
        {
            AfterStep = (t, y) =>
            {
                calls++;
                y.Values[1] = Math.Exp(-t);
                return true;
            },
        };
        OdeResult result = OdeSolver.Solve(new HostOdeTerm(rhs), new HostStateAlgebra(StateLayout.Single(2, 1e-8, 1e-8)), new Tsitouras5(), 0, 3, new HostState([1.0, 1.0]), options);
        Assert.Equal(OdeStatus.Success, result.Status);
        Assert.Equal(result.AcceptedSteps, calls);
        Assert.Equal(Math.Exp(-3.0), result.FinalState[1], 1e-15);
    }

    [Theory]
    [InlineData("bs3")]
    [InlineData("heun-euler")]
    [InlineData("dopri5")]
    public void DenseOutput_IsAccurateOnEveryStep(string name)
    {
        // Saves through the dense output over many steps: an FSAL tableau's end derivative moves between slots at
        // every step, and the interpolant must use the current one (BS3's Hermite output was wrong on every other
        // step when it did not).
        HostRhs harmonic = (t, y, f) =>
        {
            f[0] = y[1];
            f[1] = -y[0];
        };
        double[] times = Enumerable.Range(1, 200).Select(i => i * 0.05).ToArray();
        OdeResult result = OdeSolver.Solve(new HostOdeTerm(harmonic), new HostStateAlgebra(StateLayout.Single(2, 1e-9, 1e-9)), MethodCatalog.Find(name)!, 0, 10, new HostState([0.0, 1.0]), new OdeOptions<HostState> { SaveAt = SaveAt.Times(times) });
        Assert.True(result.AcceptedSteps > 20);
        double worst = times.Select((t, i) => Math.Abs(result.SavedStates[i][0] - Math.Sin(t))).Max();
        Assert.True(worst < 1e-6, $"{name}: dense output off by {worst:g3}");
    }

    public static TheoryData<string> Methods() => new(MethodCatalog.All.Select(m => m.Name));

    [Theory]
    [MemberData(nameof(Methods))]
    public void CheckpointThenResume_IsBitIdenticalToAnUninterruptedSolve(string name)
    {
        // y' = −40 y + N(t, y) with a nonlinear N: a semilinear problem every method (explicit and exponential) runs.
        OdeMethod method = MethodCatalog.Find(name)!;
        HostRhs rhs = (t, y, f) =>
        {
            f[0] = Math.Sin(y[1]) + Math.Cos(t);
            f[1] = -y[0] * y[1];
        };
        var layout = new StateLayout([new StateBlock("a", 1, 1e-8, 1e-8, 0, 40.0), new StateBlock("b", 1, 1e-8, 1e-8)]);
        double[] times = Enumerable.Range(1, 20).Select(i => i * 0.15).ToArray();
        OdeOptions<HostState> Options(Func<bool>? due = null, Action<OdeCheckpoint>? write = null, OdeCheckpoint? resume = null) => new()
        {
            FixedStep = method.IsAdaptive ? null : 0.01,
            SaveAt = SaveAt.Times(times),
            CheckpointDue = due,
            Checkpoint = write,
            ResumeFrom = resume,
        };
        OdeResult Solve(OdeOptions<HostState> o) => OdeSolver.Solve(new HostOdeTerm(rhs), new HostStateAlgebra(layout), method, 0, 3, new HostState([0.3, 1.0]), o);

        OdeResult whole = Solve(Options());
        var checkpoints = new List<OdeCheckpoint>();
        int asked = 0;
        Solve(Options(() => ++asked % 7 == 0, checkpoints.Add));
        Assert.True(checkpoints.Count >= 2, $"{name}: {checkpoints.Count} checkpoints");
        foreach (OdeCheckpoint c in new[] { checkpoints[0], checkpoints[checkpoints.Count / 2], checkpoints[^1] })
        {
            // The resumed solve saves exactly the times after the checkpoint, with the same values.
            ResumeAssert.ContinuesBitForBit(whole, Solve(Options(resume: c)));
        }
    }
}
