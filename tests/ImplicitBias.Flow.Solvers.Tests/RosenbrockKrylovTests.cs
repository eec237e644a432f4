using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Methods;
using ImplicitBias.Flow.Solvers.Rosenbrock;
using Xunit.Abstractions;

namespace ImplicitBias.Flow.Solvers.Tests;

/// <summary>The Rosenbrock–Krylov W-method: its order for any W, and steps far beyond the explicit stability bound.</summary>
public class RosenbrockKrylovTests(ITestOutputHelper output)
{
    // y' = −2 y + sin(y) + cos t with the decay 2 in the layout (the flows' form); reference from DOP853.
    private static readonly HostRhs Semilinear = (t, y, f) => f[0] = Math.Sin(y[0]) + Math.Cos(t);

    private static double SemilinearError(OdeMethod method, int steps)
    {
        var layout = StateLayout.Single(1, 1e-13, 1e-13, decayRate: 2.0);
        double reference = OdeSolver.Solve(new HostOdeTerm(Semilinear), new HostStateAlgebra(layout), new DormandPrince853(), 0, 2, new HostState([1.0])).FinalState[0];
        OdeResult result = OdeSolver.Solve(new HostOdeTerm(Semilinear), new HostStateAlgebra(layout), method, 0, 2, new HostState([1.0]), new OdeOptions<HostState> { FixedStepCount = steps });
        return Math.Abs(result.FinalState[0] - reference);
    }

    [Theory]
    [InlineData(12, 1)] // W = −C + the Krylov projection of ∂N/∂y (exact here: the space is the whole state)
    [InlineData(12, 3)] // the same W, stale for three steps
    [InlineData(0, 3)] // W = −C alone: a W-method keeps its order for any W
    public void Ros34Pw2_HasOrderThreeForAnyW(int krylov, int refresh)
    {
        var method = new Ros34Pw2 { KrylovDimension = krylov, RefreshEvery = refresh };
        // 64 and 128 steps: with a stale W the error constant changes sign near 16–32 steps (pre-asymptotic range).
        double[] errors = [SemilinearError(method, 64), SemilinearError(method, 128)];
        double slope = Math.Log2(errors[0] / errors[1]);
        output.WriteLine($"krylov {krylov}: errors {errors[0]:g3} {errors[1]:g3}, slope {slope:f2}");
        Assert.InRange(slope, 2.7, 3.3);
    }

    [Fact]
    public void Ros34Pw2_OnANonAutonomousProblem_HasOrderThree()
    {
        // DETEST A3, y' = y cos t: the W-method needs no ∂f/∂t.
        HostRhs a3 = (t, y, f) => f[0] = y[0] * Math.Cos(t);
        double Error(int n) => Math.Abs(OdeSolver.Solve(new HostOdeTerm(a3), new HostStateAlgebra(StateLayout.Single(1)), new Ros34Pw2 { RefreshEvery = 1 }, 0, 2, new HostState([1.0]), new OdeOptions<HostState> { FixedStepCount = n }).FinalState[0] - Math.Exp(Math.Sin(2.0)));
        double slope = Math.Log2(Error(32) / Error(64));
        Assert.InRange(slope, 2.7, 3.3);
    }

    /// <summary>
    /// x'' + 2δ x' + ω² x = ω² sin t, ω = 1e4, δ = 0.5: a fast, weakly damped oscillator (eigenvalues
    /// −δ ± i√(ω² − δ²), the shape of the Adam flow's θ–m̃ modes) driven slowly, started on its slow solution
    /// x = A sin t + B cos t. Explicit steppers are held near 3/ω; the W-method must take ≥ 10× longer steps and
    /// stay on the slow solution.
    /// </summary>
    [Fact]
    public void StiffOscillator_StepsFarBeyondTheExplicitBoundAndStaysAccurate()
    {
        const double omega = 1e4, delta = 0.5, t1 = 10;
        double w2 = omega * omega;
        // (ω² − 1) A − 2δ B = ω², 2δ A + (ω² − 1) B = 0.
        double det = ((w2 - 1) * (w2 - 1)) + (4 * delta * delta);
        double a = w2 * (w2 - 1) / det;
        double b = -w2 * 2 * delta / det;
        HostRhs rhs = (t, y, f) =>
        {
            f[0] = y[1];
            f[1] = (w2 * (Math.Sin(t) - y[0])) - (2 * delta * y[1]);
        };
        var layout = StateLayout.Single(2, 1e-6, 1e-8);
        OdeResult Solve(OdeMethod m) => OdeSolver.Solve(new HostOdeTerm(rhs), new HostStateAlgebra(layout), m, 0, t1, new HostState([b, a]));

        OdeResult explicitRun = Solve(new DormandPrince5());
        OdeResult run = Solve(MethodCatalog.Find("ros34pw2")!);
        double error = Math.Abs(run.FinalState[0] - ((a * Math.Sin(t1)) + (b * Math.Cos(t1))));
        output.WriteLine($"dopri5 {explicitRun.AcceptedSteps}+{explicitRun.RejectedSteps} steps; ros34pw2 {run.AcceptedSteps}+{run.RejectedSteps}, {run.RhsEvaluations} evaluations, error {error:g3}");
        Assert.Equal(OdeStatus.Success, run.Status);
        Assert.True(10 * (run.AcceptedSteps + run.RejectedSteps) <= explicitRun.AcceptedSteps, $"{run.AcceptedSteps} steps against dopri5's {explicitRun.AcceptedSteps}");
        Assert.True(t1 / run.AcceptedSteps > 10 * 3.3 / omega, $"mean step {t1 / run.AcceptedSteps:g3}");
        Assert.True(error < 1e-4, $"error {error:g3}");
    }

    /// <summary>
    /// A stiff decay to a slow curve in both places a flow can put it: y' = −k (y − cos t) with k = 1e4 as the
    /// layout's decay rate (exact in W) and as part of N (found by the Krylov space).
    /// </summary>
    [Fact]
    public void StiffDecay_InTheLayoutOrInN_IsStepPastAndAccurate()
    {
        const double k = 1e4, t1 = 5;
        // Exact: y = (k² cos t + k sin t)/(k² + 1) + C e^{−kt}, started on the slow solution (C = 0).
        double Exact(double t) => ((k * k * Math.Cos(t)) + (k * Math.Sin(t))) / ((k * k) + 1);
        HostRhs full = (t, y, f) =>
        {
            f[0] = k * Math.Cos(t);
            f[1] = -k * (y[1] - Math.Cos(t));
        };
        var layout = new StateLayout([new StateBlock("decay", 1, 1e-6, 1e-8, 0, k), new StateBlock("inN", 1, 1e-6, 1e-8)]);
        double y0 = Exact(0);
        OdeResult run = OdeSolver.Solve(new HostOdeTerm(full), new HostStateAlgebra(layout), MethodCatalog.Find("ros34pw2")!, 0, t1, new HostState([y0, y0]));
        output.WriteLine($"{run.AcceptedSteps}+{run.RejectedSteps} steps, {run.RhsEvaluations} evaluations, errors {run.FinalState[0] - Exact(t1):g3} {run.FinalState[1] - Exact(t1):g3}");
        Assert.Equal(OdeStatus.Success, run.Status);
        Assert.True(t1 / run.AcceptedSteps > 10 * 3.3 / k, $"mean step {t1 / run.AcceptedSteps:g3}");
        Assert.Equal(Exact(t1), run.FinalState[0], 1e-5);
        Assert.Equal(Exact(t1), run.FinalState[1], 1e-5);
    }

    [Fact]
    public void DenseOutput_IsAccurateInsideLongSteps()
    {
        HostRhs harmonic = (t, y, f) =>
        {
            f[0] = y[1];
            f[1] = -y[0];
        };
        double[] times = Enumerable.Range(1, 100).Select(i => i * 0.1).ToArray();
        OdeResult result = OdeSolver.Solve(new HostOdeTerm(harmonic), new HostStateAlgebra(StateLayout.Single(2, 1e-8, 1e-8)), MethodCatalog.Find("ros34pw2")!, 0, 10, new HostState([0.0, 1.0]), new OdeOptions<HostState> { SaveAt = SaveAt.Times(times) });
        double worst = times.Select((t, i) => Math.Abs(result.SavedStates[i][0] - Math.Sin(t))).Max();
        output.WriteLine($"{result.AcceptedSteps} steps, worst saved error {worst:g3}");
        Assert.True(result.AcceptedSteps > 10);
        Assert.True(worst < 1e-5, $"dense output off by {worst:g3}");
    }
    private const double ScaledPower = 0.8;

    // A stiff mode in N, F(y) = (−1e3 (y0 − sin y1), 1 − 0.1 y0), scaled by a(t) = (1 + t)^−0.8 like η(t).
    private static readonly HostRhs ScaledField = (t, y, d) =>
    {
        d[0] = -1e3 * (y[0] - Math.Sin(y[1]));
        d[1] = 1 - (0.1 * y[0]);
    };

    private static double ScaledFactor(double t) => Math.Pow(1 + t, -ScaledPower);

    private static readonly HostRhs ScaledRhs = (t, y, d) =>
    {
        ScaledField(t, y, d);
        d[0] *= ScaledFactor(t);
        d[1] *= ScaledFactor(t);
    };

    /// <summary>N(t, y) = a(t) F(y), and the term knows ∂N/∂t = (a′/a) N (<see cref="ITimeDerivativeTerm{TState}"/>), as the flows do.</summary>
    private static HostOdeTerm ScaledTerm() => new(ScaledRhs, (t, y, n, d) =>
    {
        double rate = -ScaledPower / (1 + t);
        for (int i = 0; i < n.Length; i++)
        {
            d[i] = rate * n[i];
        }
    });

    /// <summary>
    /// Given ∂N/∂t in closed form (here N = a(t) F(y), ∂N/∂t = (a′/a) N), the W-method takes its time column from the
    /// evaluation it has, one evaluation fewer per step, and the solution is the same to the tolerance (both against
    /// DOP853 at 1e-12).
    /// </summary>
    [Fact]
    public void KnownTimeDerivative_TakesTheTimeColumnForFree_AndKeepsTheAnswer()
    {
        const double t1 = 20;
        HostRhs scaled = ScaledRhs;
        var layout = StateLayout.Single(2, 1e-6, 1e-9);
        double[] y0 = [0.0, 0.5];
        double[] reference = OdeSolver.Solve(new HostOdeTerm(scaled), new HostStateAlgebra(StateLayout.Single(2, 1e-12, 1e-14)), new DormandPrince853(), 0, t1, new HostState(y0.ToArray())).FinalState;
        OdeResult plain = OdeSolver.Solve(new HostOdeTerm(scaled), new HostStateAlgebra(layout), new Ros34Pw2(), 0, t1, new HostState(y0.ToArray()));
        // Without secant updates (which only a term with a known ∂N/∂t gets) the two solves rebuild W alike.
        OdeResult told = OdeSolver.Solve(ScaledTerm(), new HostStateAlgebra(layout), new Ros34Pw2 { SecantUpdates = false }, 0, t1, new HostState(y0.ToArray()));
        output.WriteLine($"plain {plain.RhsEvaluations} evaluations ({plain.AcceptedSteps}+{plain.RejectedSteps}), time-scaled {told.RhsEvaluations} ({told.AcceptedSteps}+{told.RejectedSteps}); errors {Math.Abs(plain.FinalState[1] - reference[1]):g3} {Math.Abs(told.FinalState[1] - reference[1]):g3}");
        Assert.Equal(OdeStatus.Success, told.Status);
        Assert.True(told.RhsEvaluations + told.AcceptedSteps <= plain.RhsEvaluations, $"{told.RhsEvaluations} against {plain.RhsEvaluations}");
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(reference[i], told.FinalState[i], 1e-5);
            Assert.Equal(reference[i], plain.FinalState[i], 1e-5);
        }
    }

    /// <summary>A solve with a known ∂N/∂t resumed from checkpoints (W rebuilt from the stored point) ends bit for bit as the whole one.</summary>
    [Fact]
    public void KnownTimeDerivative_ResumesBitForBit()
    {
        var layout = StateLayout.Single(2, 1e-6, 1e-9);
        double[] times = Enumerable.Range(1, 8).Select(i => i * 1.0).ToArray();
        OdeResult Solve(Func<bool>? due = null, Action<OdeCheckpoint>? write = null, OdeCheckpoint? resume = null) =>
            OdeSolver.Solve(ScaledTerm(), new HostStateAlgebra(layout), new Ros34Pw2(), 0, 8, new HostState([0.0, 0.5]), new OdeOptions<HostState>
            {
                SaveAt = SaveAt.Times(times),
                CheckpointDue = due,
                Checkpoint = write,
                ResumeFrom = resume,
            });

        OdeResult whole = Solve();
        var checkpoints = new List<OdeCheckpoint>();
        Solve(() => true, checkpoints.Add);
        Assert.True(checkpoints.Count > 40);
        foreach (OdeCheckpoint c in new[] { checkpoints[3], checkpoints[checkpoints.Count / 3], checkpoints[(2 * checkpoints.Count) / 3] })
        {
            ResumeAssert.ContinuesBitForBit(whole, Solve(resume: c));
        }
    }

    private static OdeResult EightModes(Ros34Pw2 method, double rtol = 1e-6, OdeOptions<HostState>? options = null) =>
        OdeSolver.Solve(new HostOdeTerm(StiffTestProblems.EightStiffModesInN), new HostStateAlgebra(StateLayout.Single(StiffTestProblems.Size, rtol, rtol * 1e-3)), method, 0, 1,
            new HostState(StiffTestProblems.Start()), options);

    /// <summary>
    /// Eight stiff modes, a Krylov space of 4 started from f: the rest of the stiff spectrum stays explicit and makes
    /// steps fail. Extending W after each rejection by a few Krylov vectors from the rejected step's error takes the
    /// missing modes in for a few evaluations, and the answer stays that of DOP853.
    /// </summary>
    [Fact]
    public void ExtendingWAfterRejections_TakesTheMissedStiffModesIn()
    {
        double[] reference = OdeSolver.Solve(new HostOdeTerm(StiffTestProblems.EightStiffModesInN), new HostStateAlgebra(StateLayout.Single(StiffTestProblems.Size, 1e-11, 1e-14)), new DormandPrince853(), 0, 1,
            new HostState(StiffTestProblems.Start())).FinalState;
        OdeResult plain = EightModes(new Ros34Pw2 { KrylovDimension = 4, ExtendAfterRejection = 0 });
        OdeResult extended = EightModes(new Ros34Pw2 { KrylovDimension = 4, ExtendAfterRejection = 4, ExtensionCapacity = 8 });
        double Error(OdeResult r) => r.FinalState.Zip(reference, (a, b) => Math.Abs(a - b)).Max();
        output.WriteLine($"plain {plain.RhsEvaluations} evaluations ({plain.AcceptedSteps}+{plain.RejectedSteps}), error {Error(plain):g3}; extended {extended.RhsEvaluations} ({extended.AcceptedSteps}+{extended.RejectedSteps}), error {Error(extended):g3}");
        Assert.Equal(OdeStatus.Success, extended.Status);
        Assert.True(10 * extended.RhsEvaluations < plain.RhsEvaluations, $"{extended.RhsEvaluations} against {plain.RhsEvaluations}");
        Assert.True(Error(extended) < 1e-5, $"error {Error(extended):g3}");
    }

    /// <summary>
    /// A solve whose W is extended after rejections, resumed from checkpoints (among them ones taken right after a
    /// rejection, whose error is still to be used), ends bit for bit as the whole one: the checkpoint holds the
    /// extensions' directions and the pending error, and the rebuilt W repeats their arithmetic.
    /// </summary>
    [Fact]
    public void ExtendedW_ResumesBitForBit()
    {
        var method = new Ros34Pw2 { KrylovDimension = 4, ExtendAfterRejection = 4, ExtensionCapacity = 8 };
        double[] times = Enumerable.Range(1, 10).Select(i => i * 0.1).ToArray();
        OdeResult Solve(Func<bool>? due = null, Action<OdeCheckpoint>? write = null, OdeCheckpoint? resume = null) =>
            EightModes(method, options: new OdeOptions<HostState> { SaveAt = SaveAt.Times(times), CheckpointDue = due, Checkpoint = write, ResumeFrom = resume });

        OdeResult whole = Solve();
        var checkpoints = new List<OdeCheckpoint>();
        Solve(() => true, checkpoints.Add);
        int n = StiffTestProblems.Size;
        OdeCheckpoint[] extended = [.. checkpoints.Where(c => c.StepperMemory.Length > 6 + (2 * n) && c.StepperMemory[4] > 0)];
        OdeCheckpoint[] pending = [.. checkpoints.Where(c => c.StepperMemory.Length > 6 + (2 * n) && c.StepperMemory[5] != 0)];
        Assert.NotEmpty(extended);
        Assert.NotEmpty(pending);
        foreach (OdeCheckpoint c in new[] { extended[0], extended[extended.Length / 2], pending[0], pending[pending.Length / 2], checkpoints[checkpoints.Count / 3] })
        {
            ResumeAssert.ContinuesBitForBit(whole, Solve(resume: c));
        }
    }

    private static OdeResult Drifting(Ros34Pw2 method, double rtol, double atol) =>
        OdeSolver.Solve(new HostOdeTerm(StiffTestProblems.DriftingStiffModes, StiffTestProblems.DriftingStiffModesTimeDerivative), new HostStateAlgebra(StateLayout.Single(StiffTestProblems.DriftingSize, rtol, atol)), method, 0, 20,
            new HostState(StiffTestProblems.Start(StiffTestProblems.DriftingSize).Select((v, i) => i == StiffTestProblems.DriftingSize - 1 ? 0 : 0.5 * v).ToArray()));

    /// <summary>
    /// Twenty stiff modes whose equilibria and Jacobian move with a slow coordinate (the space of 60 holds them, but
    /// goes stale): with W's matrix renewed by each accepted step's secant pair, W is rebuilt half as often and the
    /// solve takes far fewer evaluations, to the same answer (against ros34pw2 with W rebuilt at every step at 1e-10).
    /// Without the updates (and rebuilt every 20 steps, their best then) it takes 5,178 evaluations, with them 2,921.
    /// </summary>
    [Fact]
    public void SecantUpdates_KeepAStaleWUseful()
    {
        double[] reference = Drifting(new Ros34Pw2 { RefreshEvery = 1, SecantUpdates = false }, 1e-10, 1e-13).FinalState;
        OdeResult without = Drifting(new Ros34Pw2 { SecantUpdates = false, RefreshEvery = 20 }, 1e-6, 1e-9);
        OdeResult with = Drifting(new Ros34Pw2(), 1e-6, 1e-9);
        double Error(OdeResult r) => r.FinalState.Zip(reference, (a, b) => Math.Abs(a - b)).Max();
        output.WriteLine($"without {without.RhsEvaluations} ({without.AcceptedSteps}+{without.RejectedSteps}), error {Error(without):g3}; with {with.RhsEvaluations} ({with.AcceptedSteps}+{with.RejectedSteps}), error {Error(with):g3}");
        Assert.Equal(OdeStatus.Success, with.Status);
        Assert.True(with.RhsEvaluations * 3 < without.RhsEvaluations * 2, $"{with.RhsEvaluations} against {without.RhsEvaluations}");
        Assert.True(Error(with) < 2 * Error(without) + 1e-7, $"error {Error(with):g3} against {Error(without):g3}");
    }

    /// <summary>
    /// A solve with secant updates resumed from checkpoints ends bit for bit as the whole one: the updates since W's
    /// build live only in W's matrix, which the checkpoint holds (without it the resumed solve rebuilds the basis
    /// but not the matrix, and goes another way).
    /// </summary>
    [Fact]
    public void SecantUpdatedW_ResumesBitForBit()
    {
        var method = new Ros34Pw2();
        double[] times = Enumerable.Range(1, 10).Select(i => i * 2.0).ToArray();
        var layout = StateLayout.Single(StiffTestProblems.DriftingSize, 1e-6, 1e-9);
        OdeResult Solve(Func<bool>? due = null, Action<OdeCheckpoint>? write = null, OdeCheckpoint? resume = null) =>
            OdeSolver.Solve(new HostOdeTerm(StiffTestProblems.DriftingStiffModes, StiffTestProblems.DriftingStiffModesTimeDerivative), new HostStateAlgebra(layout), method, 0, 20,
                new HostState(StiffTestProblems.Start(StiffTestProblems.DriftingSize).Select((v, i) => i == StiffTestProblems.DriftingSize - 1 ? 0 : 0.5 * v).ToArray()),
                new OdeOptions<HostState> { SaveAt = SaveAt.Times(times), CheckpointDue = due, Checkpoint = write, ResumeFrom = resume });

        OdeResult whole = Solve();
        var checkpoints = new List<OdeCheckpoint>();
        Solve(() => true, checkpoints.Add);
        int n = StiffTestProblems.DriftingSize;
        // Checkpoints many steps after a build (memory[1] counts the steps since), whose W holds many updates.
        OdeCheckpoint[] updated = [.. checkpoints.Where(c => c.StepperMemory.Length > 6 + (2 * n) && c.StepperMemory[1] >= 10)];
        Assert.NotEmpty(updated);
        foreach (OdeCheckpoint c in new[] { updated[0], updated[updated.Length / 2], updated[^1] })
        {
            ResumeAssert.ContinuesBitForBit(whole, Solve(resume: c));
        }
    }

    /// <summary>
    /// y' = −1e4 (y − cos t), with ∂N/∂t = −1e4 sin t known: nearly all of ΔN over a step is its time part, so a
    /// secant pair's q = ΔN − time part is a difference of near-equal terms and W must not take it. Taken with the
    /// one-sided time rule the pairs left this solve 5.8e-4 from the slow solution, with the trapezoidal rule and a
    /// bound on hγ ‖ΔH‖ still 8.5e-6; refused (the time part is larger than ΔN) it ends as without updates.
    /// </summary>
    [Fact]
    public void SecantPairs_OfAStifflyForcedProblem_KeepTheAnswer()
    {
        HostRhs decay = (t, y, f) => f[0] = -1e4 * (y[0] - Math.Cos(t));
        var term = new HostOdeTerm(decay, (t, y, n, d) => d[0] = -1e4 * Math.Sin(t));
        OdeResult run = OdeSolver.Solve(term, new HostStateAlgebra(StateLayout.Single(1, 1e-6, 1e-9)), MethodCatalog.Find("dopri5+ros34pw2")!, 0, 1, new HostState([1.0]));
        output.WriteLine($"{run.AcceptedSteps}+{run.RejectedSteps} steps, {run.RhsEvaluations} evaluations, y(1) − cos 1 = {run.FinalState[0] - Math.Cos(1.0):g3}");
        Assert.Equal(OdeStatus.Success, run.Status);
        OdeResult without = OdeSolver.Solve(term, new HostStateAlgebra(StateLayout.Single(1, 1e-6, 1e-9)), new ExplicitThenRosenbrock(new DormandPrince5(), new Ros34Pw2 { SecantUpdates = false }), 0, 1, new HostState([1.0]));
        // The slow solution is cos t + 1e-4 sin t + O(1e-8); without updates the solve ends 5.7e-7 from it.
        Assert.Equal(Math.Cos(1.0) + (1e-4 * Math.Sin(1.0)), run.FinalState[0], 1e-6);
        Assert.Equal(without.FinalState[0], run.FinalState[0], 1e-9);
    }
}
