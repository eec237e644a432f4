using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Exponential;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Solvers.Tests;

public class SolverBehaviourTests
{
    private static readonly HostRhs Harmonic = (t, y, f) =>
    {
        f[0] = y[1];
        f[1] = -y[0];
    };

    private static OdeResult SolveHarmonic(OdeMethod method, double t1, OdeOptions<HostState> options, double tol = 1e-10) =>
        OdeSolver.Solve(new HostOdeTerm(Harmonic), new HostStateAlgebra(StateLayout.Single(2, tol, tol)), method, 0, t1, new HostState([0.0, 1.0]), options);

    [Fact]
    public void Event_FirstFallingZeroOfSine_IsLocatedAtPi()
    {
        var ev = new OdeEvent<HostState>((t, y) => y.Values[0], EventDirection.Falling);
        OdeResult result = SolveHarmonic(new DormandPrince5(), 10, new OdeOptions<HostState> { Events = [ev] });
        Assert.Equal(OdeStatus.EventReached, result.Status);
        Assert.Equal(0, result.EventIndex);
        Assert.Equal(Math.PI, result.FinalTime, 1e-8);
        Assert.Equal(-1.0, result.FinalState[1], 1e-8);
    }

    [Fact]
    public void ToleranceScale_ActsAsTighterTolerances_FromTheStepItIsAskedAfter()
    {
        // Scaled by ½ from the start: the same solve, bit for bit, as with both tolerances halved.
        OdeResult scaled = SolveHarmonic(new DormandPrince5(), 10, new OdeOptions<HostState> { ToleranceScale = () => 0.5 }, tol: 1e-6);
        OdeResult halved = SolveHarmonic(new DormandPrince5(), 10, new OdeOptions<HostState>(), tol: 5e-7);
        Assert.Equal(halved.FinalState, scaled.FinalState);
        Assert.Equal(halved.RhsEvaluations, scaled.RhsEvaluations);

        // Tightened 100× once past t = 5: as the plain solve to there, then shorter steps and a smaller error.
        double tNow = 0;
        OdeResult plain = SolveHarmonic(new DormandPrince5(), 10, new OdeOptions<HostState>(), tol: 1e-6);
        OdeResult tightened = SolveHarmonic(new DormandPrince5(), 10, new OdeOptions<HostState> { StepCallback = s => tNow = s.Accepted ? s.Time : tNow, ToleranceScale = () => tNow > 5 ? 0.01 : 1 }, tol: 1e-6);
        Assert.True(tightened.AcceptedSteps > plain.AcceptedSteps + 10, $"{tightened.AcceptedSteps} against {plain.AcceptedSteps}");
        double Error(OdeResult r) => Math.Abs(r.FinalState[0] - Math.Sin(10));
        Assert.True(Error(tightened) < 0.75 * Error(plain), $"{Error(tightened):g3} against {Error(plain):g3}");
    }

    [Fact]
    public void Event_RisingDirection_SkipsFallingCrossing()
    {
        var ev = new OdeEvent<HostState>((t, y) => y.Values[0], EventDirection.Rising);
        OdeResult result = SolveHarmonic(new Tsitouras5(), 10, new OdeOptions<HostState> { Events = [ev] });
        Assert.Equal(OdeStatus.EventReached, result.Status);
        Assert.Equal(2 * Math.PI, result.FinalTime, 1e-8);
    }

    [Fact]
    public void SaveAtTimes_MatchExactSolutionToInterpolantAccuracy()
    {
        double[] times = Enumerable.Range(0, 41).Select(i => i * 0.25).ToArray();
        OdeResult result = SolveHarmonic(new DormandPrince5(), 10, new OdeOptions<HostState> { SaveAt = SaveAt.Times(times) }, 1e-9);
        Assert.Equal(times, result.SavedTimes);
        for (int i = 0; i < times.Length; i++)
        {
            Assert.Equal(Math.Sin(times[i]), result.SavedStates[i][0], 1e-7);
            Assert.Equal(Math.Cos(times[i]), result.SavedStates[i][1], 1e-7);
        }

        // Saving through the dense output does not shorten steps.
        OdeResult plain = SolveHarmonic(new DormandPrince5(), 10, new OdeOptions<HostState>(), 1e-9);
        Assert.Equal(plain.AcceptedSteps, result.AcceptedSteps);
    }

    [Fact]
    public void SaveAtLogSpaced_OnExponentialStepper_MatchesExactSolution()
    {
        // y' = −50 y + 50 cos t: quasi-steady solution saved at log-spaced times through the exponential dense output.
        const double c = 50;
        var layout = StateLayout.Single(1, 1e-8, 1e-8, decayRate: c);
        var options = new OdeOptions<HostState> { SaveAt = SaveAt.LogSpaced(1e-3, 5, 20) };
        OdeResult result = OdeSolver.Solve(new HostOdeTerm((t, y, f) => f[0] = c * Math.Cos(t)), new HostStateAlgebra(layout), new CoxMatthews4(), 0, 5, new HostState([0.0]), options);
        Assert.Equal(20, result.SavedTimes.Count);
        for (int i = 0; i < result.SavedTimes.Count; i++)
        {
            double t = result.SavedTimes[i];
            double exact = ((c * c * Math.Cos(t)) + (c * Math.Sin(t)) - (c * c * Math.Exp(-c * t))) / ((c * c) + 1);
            Assert.Equal(exact, result.SavedStates[i][0], 1e-5);
        }
    }

    [Fact]
    public void SaveEveryNthStep_SavesInitialStrideAndFinal()
    {
        OdeResult result = SolveHarmonic(new DormandPrince5(), 10, new OdeOptions<HostState> { SaveAt = SaveAt.EveryNthStep(3) });
        Assert.Equal(0.0, result.SavedTimes[0]);
        Assert.Equal(10.0, result.SavedTimes[^1]);
        Assert.Equal(1 + (result.AcceptedSteps / 3) + (result.AcceptedSteps % 3 == 0 ? 0 : 1), result.SavedTimes.Count);
    }

    [Fact]
    public void MaxSteps_ReturnsPartialSolution()
    {
        OdeResult result = SolveHarmonic(new DormandPrince5(), 100, new OdeOptions<HostState> { MaxSteps = 20, SaveAt = SaveAt.EveryStep() });
        Assert.Equal(OdeStatus.MaxStepsReached, result.Status);
        Assert.Equal(20, result.AcceptedSteps + result.RejectedSteps);
        Assert.True(result.FinalTime > 0 && result.FinalTime < 100);
        Assert.Equal(result.FinalTime, result.SavedTimes[^1]);
        Assert.Equal(Math.Sin(result.FinalTime), result.FinalState[0], 1e-8);
    }

    [Fact]
    public void BlowUp_ReportsStepSizeUnderflowNearOne()
    {
        // y' = y², y(0) = 1: y = 1/(1 − t) blows up at t = 1.
        var algebra = new HostStateAlgebra(StateLayout.Single(1, 1e-8, 1e-8));
        OdeResult result = OdeSolver.Solve(new HostOdeTerm((t, y, f) => f[0] = y[0] * y[0]), algebra, new DormandPrince5(), 0, 2, new HostState([1.0]));
        Assert.Equal(OdeStatus.StepSizeUnderflow, result.Status);
        Assert.Equal(1.0, result.FinalTime, 1e-6);
        Assert.Contains("ulp", result.Message);
    }

    [Fact]
    public void NonFiniteRightHandSide_ReportsNonFiniteState()
    {
        // The derivative turns NaN past t = 0.5 whatever the step: no step can pass it.
        var algebra = new HostStateAlgebra(StateLayout.Single(1));
        OdeResult result = OdeSolver.Solve(new HostOdeTerm((t, y, f) => f[0] = t > 0.5 ? double.NaN : 1.0), algebra, new DormandPrince5(), 0, 1, new HostState([0.0]));
        Assert.Equal(OdeStatus.NonFiniteState, result.Status);
        Assert.InRange(result.FinalTime, 0.49, 0.5);
        Assert.Equal(result.FinalTime, result.FinalState[0], 1e-9);
    }

    [Fact]
    public void NonFiniteInFixedStep_ReportsNonFiniteState()
    {
        var algebra = new HostStateAlgebra(StateLayout.Single(1));
        OdeResult result = OdeSolver.Solve(new HostOdeTerm((t, y, f) => f[0] = t > 0.5 ? double.PositiveInfinity : 1.0), algebra, new ClassicalRungeKutta4(), 0, 1, new HostState([0.0]), new OdeOptions<HostState> { FixedStepCount = 10 });
        Assert.Equal(OdeStatus.NonFiniteState, result.Status);
        Assert.True(result.FinalTime <= 0.5);
    }

    [Fact]
    public void StepCallback_SeesEveryStepWithCounts()
    {
        int accepted = 0;
        int rejected = 0;
        long lastEvaluations = 0;
        var options = new OdeOptions<HostState>
        {
            StepCallback = info =>
            {
                if (info.Accepted)
                {
                    accepted++;
                }
                else
                {
                    rejected++;
                }

                Assert.True(info.RhsEvaluations >= lastEvaluations);
                lastEvaluations = info.RhsEvaluations;
            },
        };
        // A first step of 1 at tolerance 1e-10 is certainly rejected.
        OdeResult result = OdeSolver.Solve(new HostOdeTerm(Harmonic), new HostStateAlgebra(StateLayout.Single(2, 1e-10, 1e-10)), new BogackiShampine3(), 0, 3, new HostState([0.0, 1.0]), new OdeOptions<HostState> { InitialStep = 1.0, StepCallback = options.StepCallback });
        Assert.Equal(result.AcceptedSteps, accepted);
        Assert.Equal(result.RejectedSteps, rejected);
        Assert.True(rejected > 0);
    }

    [Fact]
    public void ScaledAbsTol_JudgesSmallComponentsAgainstBlockScale()
    {
        // Two decoupled decays in one block: the tiny component needs few steps when judged against the block scale.
        HostRhs rhs = (t, y, f) =>
        {
            f[0] = -y[0];
            f[1] = -y[1];
        };
        var plain = new StateLayout([new StateBlock("y", 2, 1e-8, 1e-30)]);
        var scaled = new StateLayout([new StateBlock("y", 2, 1e-8, 1e-30, ScaledAbsTol: 1e-8)]);
        OdeResult a = OdeSolver.Solve(new HostOdeTerm(rhs), new HostStateAlgebra(plain), new DormandPrince5(), 0, 50, new HostState([1.0, 1e-12]));
        OdeResult b = OdeSolver.Solve(new HostOdeTerm(rhs), new HostStateAlgebra(scaled), new DormandPrince5(), 0, 50, new HostState([1.0, 1e-12]));
        Assert.True(b.AcceptedSteps < a.AcceptedSteps, $"{b.AcceptedSteps} vs {a.AcceptedSteps}");
        Assert.Equal(Math.Exp(-50), b.FinalState[0], 1e-12);
    }

    [Fact]
    public void Tableaus_AreConsistentAndFsalDetected()
    {
        Assert.True(new DormandPrince5().Tableau.IsFsal);
        Assert.True(new BogackiShampine3().Tableau.IsFsal);
        Assert.True(new Tsitouras5().Tableau.IsFsal);
        Assert.False(new DormandPrince853().Tableau.IsFsal);
        Assert.False(new HeunEuler().Tableau.IsFsal);
        Assert.Throws<ArgumentException>(() => new ButcherTableau([[], [0.5]], [0.5, 0.5], [0.0, 1.0], null));
        Assert.Throws<ArgumentException>(() => new ButcherTableau([[], [1.0]], [0.6, 0.5], [0.0, 1.0], null));
        Assert.Throws<ArgumentException>(() => new ButcherTableau([[], [1.0]], [0.5, 0.5], [0.0, 1.0], [0.1, 0.0]));
    }

    [Fact]
    public void Phi_SmallAndLargeArguments_AgreeWithClosedForm()
    {
        Span<double> phi = stackalloc double[4];
        foreach (double z in new[] { -1e-8, -0.3, -0.6, -5.0, -1e4 })
        {
            Phi.Evaluate(z, phi);
            double e = Math.Exp(z);
            double p1 = Math.Abs(z) < 1e-5 ? 1 + (z / 2) : (e - 1) / z;
            Assert.Equal(e, phi[0], 1e-14);
            Assert.Equal(p1, phi[1], 1e-10);
            Assert.Equal(Math.Abs(z) < 1e-5 ? 0.5 : (p1 - 1) / z, phi[2], 1e-8);
        }
    }

    [Fact]
    public void HostPath_AllocationDoesNotGrowWithStepCount()
    {
        var algebra = new HostStateAlgebra(StateLayout.Single(2, 1e-10, 1e-10));
        var term = new HostOdeTerm(Harmonic);
        foreach (OdeMethod method in new OdeMethod[] { new DormandPrince5(), new DormandPrince853(), new CoxMatthews4() })
        {
            OdeSolver.Solve(term, algebra, method, 0, 5, new HostState([0.0, 1.0]));
            var y0 = new HostState([0.0, 1.0]);
            long before = GC.GetAllocatedBytesForCurrentThread();
            OdeResult shortRun = OdeSolver.Solve(term, algebra, method, 0, 5, y0);
            long shortBytes = GC.GetAllocatedBytesForCurrentThread() - before;
            before = GC.GetAllocatedBytesForCurrentThread();
            OdeResult longRun = OdeSolver.Solve(term, algebra, method, 0, 200, y0);
            long longBytes = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(longRun.AcceptedSteps > 10 * shortRun.AcceptedSteps);
            Assert.True(longBytes <= shortBytes, $"{method.Name}: {longBytes} bytes for {longRun.AcceptedSteps} steps vs {shortBytes} for {shortRun.AcceptedSteps}");
        }
    }
}
