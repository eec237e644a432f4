using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers;
using ImplicitBias.Flow.Solvers.Methods;
using ImplicitBias.Flow.Solvers.Rosenbrock;

namespace ImplicitBias.Flow.Flows.Tests;

/// <summary>The default stepper is the measured cheapest (STEPPERS.md) for two representative optimizers.</summary>
public class StepperChoiceTests
{
    private static long Evaluations(string optimizer, string method, double target = -30) => Solve(optimizer, method, target).RhsEvaluations;

    private static OdeResult Solve(string optimizer, string method, double target)
    {
        (OptimizerFlow flow, double[] theta0) = LongRunTests.SquaredReluFlow(optimizer, 0.3);
        OdeResult result = FlowSolver.Solve(flow, theta0, new FlowSolveOptions { Method = method, TargetLogLoss = target, MaxTime = 1e15, SaveAt = SaveAt.Nothing, KeepSavedStates = false });
        Assert.Equal(OdeStatus.EventReached, result.Status);

        // A cheap stepper counts only if it got there: the model's loss at the final θ is at the target, and the
        // run ended on the target, not long past it (which a step that skipped over the event would show).
        double logLoss = LongRunTests.SquaredReluLogLoss(flow.Theta(result.FinalState));
        Assert.InRange(logLoss, target - 0.5, target);
        return result;
    }

    [Fact]
    public void LongRunWithMomentum_DefaultHandsOverToEtdrk4_ManyTimesCheaperThanTheExplicitMethodAlone()
    {
        // Normalized momentum to log L = −200: bs3 alone is held at h ≈ 2.5/c1 for most of the run; the default pair
        // hands over to ETDRK4 once that bound holds (STEPPERS.md: 9,880 against 199,106 evaluations to −1000).
        OdeResult pair = Solve("nmomentum", "auto", -200);
        OdeResult alone = Solve("nmomentum", "bs3", -200);
        Assert.StartsWith("bs3 until t = ", pair.StepperNote, StringComparison.Ordinal);
        Assert.True(pair.RhsEvaluations * 5 < alone.RhsEvaluations, $"default {pair.RhsEvaluations} evaluations, bs3 {alone.RhsEvaluations}");
    }

    [Theory]
    [InlineData("adam", "etdrk4+ros34pw2")]
    [InlineData("muon", "tsit5+etdrk4")]
    [InlineData("ngd", "dopri5+ros34pw2")] // not held by stiffness here: dopri5 throughout, the same evaluations
    [InlineData("signgd", "dopri5+ros34pw2")]
    public void DefaultStepper_IsTheMeasuredChoice_AndNoDearerThanDopri5(string optimizer, string expected)
    {
        (OptimizerFlow flow, _) = LongRunTests.SquaredReluFlow(optimizer, 0.3);
        Assert.Equal(expected, FlowSolver.DefaultMethod(flow).Name);
        long auto = Evaluations(optimizer, "auto"), dopri5 = Evaluations(optimizer, "dopri5");
        Assert.True(auto <= dopri5, $"{optimizer}: default {auto} evaluations, dopri5 {dopri5}");
    }

    [Fact]
    public void GradientDescent_DefaultsToTheStiffnessDetectingPair()
    {
        // GD does not reach −30 on this problem in any time a test can afford (its loss falls like 1/t); the pair's
        // behaviour is tested in the Solvers tests, its choice here.
        (OptimizerFlow flow, _) = LongRunTests.SquaredReluFlow("gd", 0.3);
        Assert.Equal("dopri5+ros34pw2", FlowSolver.DefaultMethod(flow).Name);
    }
    /// <summary>
    /// On a flow with moments the Rosenbrock-W step takes its time column ∂N/∂t from the flow's closed form
    /// (<see cref="OptimizerFlow.TimeDerivative"/>), once per step point, instead of a difference in t, and ends where
    /// the same solve with a term that hides the closed form ends (final θ to 1e-4, time to 1e-4). That it saves one
    /// evaluation per step on an unchanged step sequence is tested in the Solvers tests.
    /// </summary>
    [Theory]
    [InlineData("adam")]
    [InlineData("signum")]
    public void MomentFlows_GiveTheRosenbrockStepItsTimeColumn(string optimizer)
    {
        (OptimizerFlow flow, double[] theta0) = LongRunTests.SquaredReluFlow(optimizer, 0.3);
        Assert.True(flow.HasTimeDerivative);
        var options = new FlowSolveOptions { Method = "ros34pw2", TargetLogLoss = -30, MaxTime = 1e15, SaveAt = SaveAt.Nothing, KeepSavedStates = false };
        OdeResult Solve(IOdeTerm<HostState> term) => SolveWithTerm(flow, theta0, term, options);

        var counting = new CountingTimeDerivative(flow);
        OdeResult known = Solve(counting);
        OdeResult differenced = Solve(new HostOdeTerm(flow.Evaluate));

        Assert.Equal(OdeStatus.EventReached, known.Status);
        Assert.Equal(OdeStatus.EventReached, differenced.Status);
        // Once per step point for the time column, and once per accepted step for the secant update's trapezoidal rule.
        Assert.InRange(counting.Calls, 2 * known.AcceptedSteps, (2 * known.AcceptedSteps) + known.RejectedSteps + 1);
        double[] a = flow.Theta(known.FinalState).ToArray(), b = flow.Theta(differenced.FinalState).ToArray();
        double gap = Math.Sqrt(a.Zip(b, (x, z) => (x - z) * (x - z)).Sum()) / Math.Sqrt(b.Sum(x => x * x));
        Assert.True(gap < 1e-4, $"{optimizer}: final θ differ by {gap:g3} (relative)");
        Assert.Equal(differenced.FinalTime, known.FinalTime, 1e-4 * differenced.FinalTime);
    }

    /// <summary>
    /// The Adam flow tells the W-method at what size its m̃ and ṽ coordinates matter (<see cref="OptimizerFlow.CoordinateScales"/>),
    /// and W's inner product weighs them so. Against the same solve with a term that hides the sizes: fewer evaluations,
    /// the same answer (to log L = −100 on the long-run problem).
    /// </summary>
    [Fact]
    public void AdamFlow_GivesTheWMethodItsCoordinateSizes()
    {
        (OptimizerFlow flow, double[] theta0) = LongRunTests.SquaredReluFlow("adam", 0.3);
        Assert.True(flow.HasCoordinateScales);
        var options = new FlowSolveOptions { Method = "etdrk4+ros34pw2", TargetLogLoss = -100, MaxTime = 1e15, SaveAt = SaveAt.Nothing, KeepSavedStates = false };
        OdeResult Solve(IOdeTerm<HostState> term) => SolveWithTerm(flow, theta0, term, options);

        OdeResult sized = Solve(new HostOdeTerm(flow.Evaluate, flow.TimeDerivative, flow, flow));
        OdeResult unsized = Solve(new HostOdeTerm(flow.Evaluate, flow.TimeDerivative, flow));
        Assert.Equal(OdeStatus.EventReached, sized.Status);
        Assert.Equal(OdeStatus.EventReached, unsized.Status);

        // Measured: 5,069 evaluations against 6,740, the target's time 197,525.3 against 197,529.7.
        Assert.True(sized.RhsEvaluations < 0.85 * unsized.RhsEvaluations, $"{sized.RhsEvaluations} evaluations with the sizes, {unsized.RhsEvaluations} without");
        Assert.Equal(unsized.FinalTime, sized.FinalTime, 1e-4 * unsized.FinalTime);
    }

    /// <summary>Solves the flow from θ(0) on the host with <paramref name="term"/> standing for it (anchored as every solve is).</summary>
    private static OdeResult SolveWithTerm(OptimizerFlow flow, double[] theta0, IOdeTerm<HostState> term, FlowSolveOptions options)
    {
        int sigma = flow.Parameters.Length;
        var access = new FlowStateAccess<HostState>(y => y.Values[sigma], (y, value) => y.Values[sigma] = value, y => flow.EvaluateLogLoss(y.Values), () => flow.LastLogLoss);
        var y0 = new HostState(flow.Layout.Length);
        flow.InitialState(theta0, y0.Values);
        return FlowSolver.Solve(flow, term, new HostStateAlgebra(flow.Layout), y0, access, options);
    }

    /// <summary>The flow's host term, counting the closed-form time derivatives the stepper asks for.</summary>
    private sealed class CountingTimeDerivative(OptimizerFlow flow) : IOdeTerm<HostState>, ITimeDerivativeTerm<HostState>
    {
        public int Calls { get; private set; }

        public bool HasTimeDerivative => true;

        public void Evaluate(double t, HostState y, HostState dydt) => flow.Evaluate(t, y.Values, dydt.Values);

        public void TimeDerivative(double t, HostState y, HostState n, HostState destination)
        {
            Calls++;
            flow.TimeDerivative(t, y.Values, n.Values, destination.Values);
        }
    }

    /// <summary>
    /// ros34pw2 keeps its measured defaults on the momentless flows (60 Krylov vectors every 40 steps, renewed by secant
    /// updates between, no rebuild after a rejection but 4 more vectors from its error, at most 20 such) and its former settings on a flow with a moment (12 every 10 and
    /// after every rejection, which measured 500× further in Adam's initial transient), named alone or in a pair; after
    /// ETDRK4 (past the transient) 30 every 20 with extensions; the catalogue's instance is not changed.
    /// </summary>
    [Theory]
    [InlineData("ngd", "ros34pw2", 60, 40, false, 4)]
    [InlineData("gd", "dopri5+ros34pw2", 60, 40, false, 4)]
    [InlineData("adam", "ros34pw2", FlowSolver.MomentKrylovDimension, FlowSolver.MomentRefreshEvery, true, 0)]
    [InlineData("signum", "dopri5+ros34pw2", FlowSolver.MomentKrylovDimension, FlowSolver.MomentRefreshEvery, true, 0)]
    [InlineData("adam", "etdrk4+ros34pw2", FlowSolver.LateMomentKrylovDimension, FlowSolver.LateMomentRefreshEvery, false, 4)]
    public void RosenbrockW_RunsWithTheKrylovSettingsMeasuredForItsFlow(string optimizer, string method, int dimension, int refresh, bool rebuild, int extend)
    {
        (OptimizerFlow flow, _) = LongRunTests.SquaredReluFlow(optimizer, 0.3);
        OdeMethod resolved = FlowSolver.MethodFor(flow, method);
        Assert.Equal(method, resolved.Name);
        RosenbrockWMethod w = resolved switch
        {
            RosenbrockWMethod alone => alone,
            ExplicitThenRosenbrock pair => pair.Then,
            ExponentialThenRosenbrock late => late.Then,
            _ => throw new Xunit.Sdk.XunitException($"{resolved.Name} is not a Rosenbrock-W method"),
        };
        Assert.Equal((dimension, refresh, rebuild, extend), (w.KrylovDimension, w.RefreshEvery, w.RebuildAfterRejection, w.ExtendAfterRejection));
        var catalogue = (RosenbrockWMethod)MethodCatalog.Find("ros34pw2")!;
        Assert.Equal((60, 40, false, 4, 20, true), (catalogue.KrylovDimension, catalogue.RefreshEvery, catalogue.RebuildAfterRejection, catalogue.ExtendAfterRejection, catalogue.ExtensionCapacity, catalogue.SecantUpdates));
    }
}
