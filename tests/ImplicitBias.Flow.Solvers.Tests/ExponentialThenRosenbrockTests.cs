using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Exponential;
using ImplicitBias.Flow.Solvers.Methods;
using ImplicitBias.Flow.Solvers.Rosenbrock;
using Xunit.Abstractions;

namespace ImplicitBias.Flow.Solvers.Tests;

/// <summary>
/// The pair "etdrk4+ros34pw2": ETDRK4 until DecayTimes / c_min, bit for bit; from there the two take turns by measured
/// time per evaluation (the W-method where a stiff mode holds ETDRK4, ETDRK4 where nothing does); ETDRK4 throughout
/// without a decay; a bit-for-bit resume across the switches.
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

    /// <summary>
    /// A smooth, non-stiff N (every mode slow, forced at period 2π/3): ETDRK4's fourth order takes long steps and needs
    /// no W, the W-method pays a rebuild of its Krylov space every 40 steps. The W-method's trial must lose, and its
    /// later trials (each after twice as long) must cost little: the pair within 15 % of ETDRK4 alone.
    /// </summary>
    [Fact]
    public void WhereTheWMethodIsDearer_Etdrk4RunsOn()
    {
        OdeMethod pair = MethodCatalog.Find("etdrk4+ros34pw2")!;
        OdeResult measured = SolveSmooth(pair, 60);
        OdeResult etdrk4 = SolveSmooth(new CoxMatthews4(), 60);
        double share = TimeShareOfTheWMethod(measured.StepperNote!);
        output.WriteLine($"pair {measured.RhsEvaluations} evaluations ({measured.StepperNote}), etdrk4 {etdrk4.RhsEvaluations}");
        Assert.True(share < 0.1, measured.StepperNote);
        Assert.True(measured.RhsEvaluations < 1.15 * etdrk4.RhsEvaluations, $"{measured.RhsEvaluations} against {etdrk4.RhsEvaluations}");
        Assert.True(measured.FinalState.Zip(etdrk4.FinalState, (a, b) => Math.Abs(a - b)).Max() < 1e-5);
    }

    /// <summary>Where the stiff mode holds ETDRK4 the W-method wins its trial and keeps the run, ETDRK4's trials losing.</summary>
    [Fact]
    public void WhereAStiffModeHoldsEtdrk4_TheWMethodRunsOn()
    {
        OdeResult measured = Solve(MethodCatalog.Find("etdrk4+ros34pw2")!, 0.5, 30);
        OdeResult etdrk4 = Solve(new CoxMatthews4(), 0.5, 30);
        output.WriteLine($"pair {measured.RhsEvaluations} evaluations ({measured.StepperNote}), etdrk4 {etdrk4.RhsEvaluations}");
        Assert.True(TimeShareOfTheWMethod(measured.StepperNote!) > 0.9, measured.StepperNote);
        Assert.True(measured.RhsEvaluations < etdrk4.RhsEvaluations / 3, $"{measured.RhsEvaluations} against {etdrk4.RhsEvaluations}");
    }

    private static readonly HostRhs Smooth = (t, y, f) =>
    {
        for (int i = 0; i < y.Length; i++)
        {
            f[i] = Math.Sin((3 * t) + i) + (0.1 * Math.Sin(y[(i + 1) % y.Length]));
        }
    };

    private static OdeResult SolveSmooth(OdeMethod method, double t1, OdeOptions<HostState>? options = null) =>
        OdeSolver.Solve(new HostOdeTerm(Smooth), new HostStateAlgebra(Layout(0.5)), method, 0, t1, new HostState(StiffTestProblems.Start()), options);

    private static double TimeShareOfTheWMethod(string note)
    {
        System.Text.RegularExpressions.Match m = System.Text.RegularExpressions.Regex.Match(note, @"ros34pw2 for ([0-9.]+) % of the time since");
        Assert.True(m.Success, note);
        return double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) / 100;
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

    /// <summary>
    /// Resumed from checkpoints in a trial, right after a lost trial and between trials (where the W-method lost its
    /// first trial and is tried again later), the run makes the same choices and ends bit for bit the same.
    /// </summary>
    [Fact]
    public void ResumesBitForBitAcrossTrials()
    {
        OdeMethod pair = MethodCatalog.Find("etdrk4+ros34pw2")!;
        double[] times = Enumerable.Range(1, 30).Select(i => i * 2.0).ToArray();
        OdeResult Run(Func<bool>? due = null, Action<OdeCheckpoint>? write = null, OdeCheckpoint? resume = null) =>
            SolveSmooth(pair, 60, new OdeOptions<HostState> { SaveAt = SaveAt.Times(times), CheckpointDue = due, Checkpoint = write, ResumeFrom = resume });

        OdeResult whole = Run();
        Assert.Contains("switches", whole.StepperNote, StringComparison.Ordinal);
        Assert.DoesNotContain("(0 switches)", whole.StepperNote, StringComparison.Ordinal);
        var checkpoints = new List<OdeCheckpoint>();
        Run(() => true, checkpoints.Add);
        // The stepper's memory starts [running method, measuring, in a trial, switch due, evaluations before the segment].
        OdeCheckpoint inTrial = checkpoints.First(c => c.StepperMemory[0] == 1 && c.StepperMemory[2] == 1);
        OdeCheckpoint due = checkpoints.First(c => c.StepperMemory[3] >= 0);
        OdeCheckpoint afterALostTrial = checkpoints.First(c => c.StepperMemory[0] == 0 && c.StepperMemory[4] > 0);
        OdeCheckpoint later = checkpoints.Last(c => c.StepperMemory[0] == 0 && c.StepperMemory[2] == 0);
        foreach (OdeCheckpoint c in new[] { inTrial, due, afterALostTrial, later })
        {
            ResumeAssert.ContinuesBitForBit(whole, Run(resume: c));
        }
    }
}
