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
        OdeResult told = OdeSolver.Solve(ScaledTerm(), new HostStateAlgebra(layout), new Ros34Pw2(), 0, t1, new HostState(y0.ToArray()));
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
}
