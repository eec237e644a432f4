using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Exponential;
using ImplicitBias.Flow.Solvers.Methods;
using ImplicitBias.Flow.Solvers.Rosenbrock;
using Xunit.Abstractions;

namespace ImplicitBias.Flow.Solvers.Tests;

/// <summary>
/// The pair "etdrk4+ros34pw2": ETDRK4 until DecayTimes / c_min, bit for bit; the Rosenbrock-W method from there on;
/// ETDRK4 throughout without a decay; a bit-for-bit resume across the switch.
/// </summary>
public class ExponentialThenRosenbrockTests(ITestOutputHelper output)
{
    private const int Size = StiffTestProblems.Size;

    // The stiff problem with a slow decay 0.5 in the layout: the switch comes at 3 / 0.5 = 6.
    private static StateLayout Layout(double decay) => StateLayout.Single(Size, 1e-6, 1e-8, decayRate: decay);

    private static OdeResult Solve(OdeMethod method, double decay, double t1, OdeOptions<HostState>? options = null) =>
        OdeSolver.Solve(new HostOdeTerm(StiffTestProblems.OneStiffModeInN), new HostStateAlgebra(Layout(decay)), method, 0, t1,
            new HostState(StiffTestProblems.Start()), options);

    [Fact]
    public void Catalogue_NamesThePair()
    {
        var pair = Assert.IsType<ExponentialThenRosenbrock>(MethodCatalog.Find("etdrk4+ros34pw2"));
        Assert.IsType<CoxMatthews4>(pair.First);
        Assert.IsType<Ros34Pw2>(pair.Then);
        Assert.Equal(6.0, pair.SwitchTime(Layout(0.5)), 12);
        Assert.Equal(double.PositiveInfinity, pair.SwitchTime(StateLayout.Single(Size)));
    }

    /// <summary>Before the switch time the pair is ETDRK4 bit for bit; after it the W-method steps past the stiff mode.</summary>
    [Fact]
    public void IsEtdrk4UntilTheSwitchTime_ThenTheWMethod()
    {
        OdeMethod pair = MethodCatalog.Find("etdrk4+ros34pw2")!;
        OdeResult early = Solve(pair, 0.5, 5);
        OdeResult etdrk4 = Solve(new CoxMatthews4(), 0.5, 5);
        Assert.Equal(etdrk4.FinalState, early.FinalState);
        Assert.Equal(etdrk4.RhsEvaluations, early.RhsEvaluations);
        Assert.StartsWith("etdrk4 throughout", early.StepperNote, StringComparison.Ordinal);

        double[] reference = OdeSolver.Solve(new HostOdeTerm(StiffTestProblems.OneStiffModeInN), new HostStateAlgebra(StateLayout.Single(Size, 1e-11, 1e-13, decayRate: 0.5)), new DormandPrince853(), 0, 12,
            new HostState(StiffTestProblems.Start())).FinalState;
        OdeResult late = Solve(pair, 0.5, 12);
        OdeResult etdrk4Late = Solve(new CoxMatthews4(), 0.5, 12);
        double error = late.FinalState.Zip(reference, (a, b) => Math.Abs(a - b)).Max();
        output.WriteLine($"pair {late.RhsEvaluations} evaluations ({late.StepperNote}), etdrk4 {etdrk4Late.RhsEvaluations}; error {error:g3}");
        Assert.StartsWith("etdrk4 until t = 6", late.StepperNote, StringComparison.Ordinal);
        Assert.True(late.RhsEvaluations < etdrk4Late.RhsEvaluations, $"{late.RhsEvaluations} against {etdrk4Late.RhsEvaluations}");
        Assert.True(error < 1e-4, $"error {error:g3}");
    }

    [Fact]
    public void WithoutADecay_NeverSwitches()
    {
        OdeResult pair = Solve(MethodCatalog.Find("etdrk4+ros34pw2")!, 0, 8);
        OdeResult etdrk4 = Solve(new CoxMatthews4(), 0, 8);
        Assert.Equal(etdrk4.FinalState, pair.FinalState);
        Assert.StartsWith("etdrk4 throughout", pair.StepperNote, StringComparison.Ordinal);
    }

    [Fact]
    public void ResumesBitForBitAcrossTheSwitch()
    {
        OdeMethod pair = MethodCatalog.Find("etdrk4+ros34pw2")!;
        double[] times = Enumerable.Range(1, 10).Select(i => i * 1.0).ToArray();
        OdeResult Run(Func<bool>? due = null, Action<OdeCheckpoint>? write = null, OdeCheckpoint? resume = null) =>
            Solve(pair, 0.5, 10, new OdeOptions<HostState> { SaveAt = SaveAt.Times(times), CheckpointDue = due, Checkpoint = write, ResumeFrom = resume });

        OdeResult whole = Run();
        var checkpoints = new List<OdeCheckpoint>();
        Run(() => true, checkpoints.Add);
        OdeCheckpoint before = checkpoints.Last(c => c.Time < 6);
        OdeCheckpoint after = checkpoints.First(c => c.Time > 7);
        foreach (OdeCheckpoint c in new[] { before, after, checkpoints[^10] })
        {
            ResumeAssert.ContinuesBitForBit(whole, Run(resume: c));
        }
    }
}
