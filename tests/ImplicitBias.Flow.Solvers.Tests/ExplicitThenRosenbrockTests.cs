using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Methods;
using ImplicitBias.Flow.Solvers.Rosenbrock;
using Xunit.Abstractions;

namespace ImplicitBias.Flow.Solvers.Tests;

/// <summary>
/// The pair "explicit+ros34pw2": Hairer's stiffness estimate, the switch where stiffness in N holds the explicit step,
/// the explicit method bit for bit where it never does, and a bit-for-bit resume across the switch.
/// </summary>
public class ExplicitThenRosenbrockTests(ITestOutputHelper output)
{
    private const int Size = StiffTestProblems.Size;

    private static readonly HostRhs StiffInN = StiffTestProblems.OneStiffModeInN;

    private static OdeResult Solve(OdeMethod method, HostRhs rhs, int size, double t1, OdeOptions<HostState>? options = null) =>
        OdeSolver.Solve(new HostOdeTerm(rhs), new HostStateAlgebra(StateLayout.Single(size, 1e-6, 1e-8)), method, 0, t1,
            new HostState(StiffTestProblems.Start(size)), options);

    [Theory]
    [InlineData("dopri5", true)]
    [InlineData("tsit5", true)]
    [InlineData("bs3", false)]
    [InlineData("dop853", false)]
    public void WhichExplicitMethodsCanDetectStiffness(string name, bool expected) =>
        Assert.Equal(expected, ExplicitThenRosenbrock.CanDetect((ExplicitRungeKuttaMethod)MethodCatalog.Find(name)!));

    [Fact]
    public void Catalogue_NamesThePairs()
    {
        var pair = Assert.IsType<ExplicitThenRosenbrock>(MethodCatalog.Find("dopri5+ros34pw2"));
        Assert.Equal("dopri5", pair.First.Name);
        Assert.IsType<Ros34Pw2>(pair.Then);
        Assert.Throws<ArgumentException>(() => new ExplicitThenRosenbrock(new BogackiShampine3(), new Ros34Pw2()));
    }

    /// <summary>
    /// On y' = λ y the estimate is exact: f(y1) − f(Y) = λ (y1 − Y). DOPRI5 alone on λ = −1e4 is held at h|λ| ≈ 3.3, so
    /// the pair must switch after its 15 held steps, and then step far past that bound.
    /// </summary>
    [Fact]
    public void HeldByALinearStiffMode_SwitchesAfterFifteenHeldSteps()
    {
        HostRhs decay = (t, y, f) => f[0] = -1e4 * (y[0] - Math.Cos(t));
        OdeResult alone = Solve(new DormandPrince5(), decay, 1, 1);
        OdeResult pair = Solve(MethodCatalog.Find("dopri5+ros34pw2")!, decay, 1, 1);
        output.WriteLine($"dopri5 {alone.AcceptedSteps} steps; pair {pair.AcceptedSteps}+{pair.RejectedSteps}, {pair.RhsEvaluations} evaluations; {pair.StepperNote}");
        Assert.StartsWith("dopri5 until t = ", pair.StepperNote, StringComparison.Ordinal);
        Assert.Contains("then ros34pw2", pair.StepperNote, StringComparison.Ordinal);
        Assert.True(pair.RhsEvaluations * 10 < alone.RhsEvaluations, $"{pair.RhsEvaluations} against {alone.RhsEvaluations}");
        Assert.Equal(Math.Cos(1.0), pair.FinalState[0], 1e-4);
    }

    [Fact]
    public void HeldByAStiffModeInN_SwitchesCheaperAndAsAccurate()
    {
        OdeResult reference = OdeSolver.Solve(new HostOdeTerm(StiffInN), new HostStateAlgebra(StateLayout.Single(Size, 1e-11, 1e-13)), new DormandPrince853(), 0, 5,
            new HostState(StiffTestProblems.Start()));
        OdeResult alone = Solve(new DormandPrince5(), StiffInN, Size, 5);
        OdeResult pair = Solve(MethodCatalog.Find("dopri5+ros34pw2")!, StiffInN, Size, 5);
        double error = pair.FinalState.Zip(reference.FinalState, (a, b) => Math.Abs(a - b)).Max();
        output.WriteLine($"dopri5 {alone.RhsEvaluations} evaluations; pair {pair.RhsEvaluations}, error {error:g3}; {pair.StepperNote}");
        Assert.Contains("then ros34pw2", pair.StepperNote, StringComparison.Ordinal);
        Assert.True(pair.RhsEvaluations * 5 < alone.RhsEvaluations, $"{pair.RhsEvaluations} against {alone.RhsEvaluations}");
        Assert.True(error < 1e-4, $"error {error:g3}");
    }

    [Fact]
    public void NeverHeld_IsTheExplicitMethodBitForBit()
    {
        // DETEST A3-like, non-stiff: y' = y cos t.
        HostRhs a3 = (t, y, f) => f[0] = y[0] * Math.Cos(t);
        OdeResult alone = Solve(new DormandPrince5(), a3, 1, 20);
        OdeResult pair = Solve(MethodCatalog.Find("dopri5+ros34pw2")!, a3, 1, 20);
        Assert.Equal(alone.FinalState, pair.FinalState);
        Assert.Equal(alone.RhsEvaluations, pair.RhsEvaluations);
        Assert.Equal(alone.AcceptedSteps, pair.AcceptedSteps);
        Assert.Equal(alone.RejectedSteps, pair.RejectedSteps);
        Assert.Equal("dopri5 throughout (its step was never held by stiffness)", pair.StepperNote);
    }

    [Fact]
    public void CheckpointsBeforeAndAfterTheSwitch_ResumeBitForBit()
    {
        OdeMethod method = MethodCatalog.Find("dopri5+ros34pw2")!;
        double[] times = Enumerable.Range(1, 10).Select(i => i * 0.5).ToArray();
        OdeOptions<HostState> Options(Func<bool>? due = null, Action<OdeCheckpoint>? write = null, OdeCheckpoint? resume = null) => new()
        {
            SaveAt = SaveAt.Times(times),
            CheckpointDue = due,
            Checkpoint = write,
            ResumeFrom = resume,
        };

        OdeResult whole = Solve(method, StiffInN, Size, 5, Options());
        var checkpoints = new List<OdeCheckpoint>();
        Solve(method, StiffInN, Size, 5, Options(() => true, checkpoints.Add));
        OdeCheckpoint[] before = checkpoints.Where(c => c.StepperMemory[0] == 0).ToArray();
        OdeCheckpoint[] after = checkpoints.Where(c => c.StepperMemory[0] == 1).ToArray();
        Assert.True(before.Length > 2);
        Assert.NotEmpty(after);
        foreach (OdeCheckpoint c in new[] { before[^2], before[^1], after[0], after[after.Length / 2] })
        {
            ResumeAssert.ContinuesBitForBit(whole, Solve(method, StiffInN, Size, 5, Options(resume: c)));
        }
    }
}
