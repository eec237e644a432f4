using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Exponential;
using ImplicitBias.Flow.Solvers.Methods;
using MathNet.Numerics;
using Xunit.Abstractions;

namespace ImplicitBias.Flow.Solvers.Tests;

/// <summary>
/// The explicit-then-exponential pair: the tableaus' real stability bounds it relies on, the switch where the explicit
/// step is held by a decay (and nowhere else), its accuracy across the switch, and checkpoints on both sides of it.
/// </summary>
public class ExplicitThenExponentialTests(ITestOutputHelper output)
{
    // y' = −c (y − sin ωt): the decay c in the layout, N = c sin ωt, slow (ω = 0.01) against the decay (c = 1000).
    // From y(0) = y_p(0) the solution is the particular one, y_p(t) = c (c sin ωt − ω cos ωt)/(c² + ω²).
    private const double Decay = 1000;
    private const double Omega = 0.01;
    private const double End = 100;

    private static double Exact(double t) => Decay * ((Decay * Math.Sin(Omega * t)) - (Omega * Math.Cos(Omega * t))) / ((Decay * Decay) + (Omega * Omega));

    private static readonly HostRhs Forcing = (t, _, f) => f[0] = Decay * Math.Sin(Omega * t);

    private static StateLayout DecayLayout(double decay = Decay) => new([new StateBlock("y", 1, 1e-6, 1e-9, 0, decay)]);

    private static OdeResult Solve(OdeMethod method, StateLayout layout, double t1, OdeOptions<HostState>? options = null) =>
        OdeSolver.Solve(new HostOdeTerm(Forcing), new HostStateAlgebra(layout), method, 0, t1, new HostState([Exact(0)]), options);

    /// <summary>
    /// R(z) of a method whose stability function is a known polynomial Σ a_k z^k: the largest r with |R(−r)| ≤ 1 on
    /// [−r, 0], from the polynomial's real roots of R(x) = ±1 (MathNet), independent of the tableau.
    /// </summary>
    private static double PolynomialBound(double[] coefficients)
    {
        var minusOne = (double[])coefficients.Clone();
        minusOne[0] += 1; // R(x) + 1 = 0
        var plusOne = (double[])coefficients.Clone();
        plusOne[0] -= 1; // R(x) − 1 = 0 (x = 0 is always a root)
        return new[] { minusOne, plusOne }
            .SelectMany(c => new Polynomial(c).Roots())
            .Where(r => Math.Abs(r.Imaginary) < 1e-9 && r.Real < -1e-9)
            .Max(r => r.Real) * -1;
    }

    public static TheoryData<string, double[]> KnownStabilityFunctions => new()
    {
        // Methods with as many effective stages as their order: R is the Taylor polynomial of e^z.
        { "euler", [1, 1] },
        { "heun-euler", [1, 1, 1.0 / 2] },
        { "rk4", [1, 1, 1.0 / 2, 1.0 / 6, 1.0 / 24] },
        { "bs3", [1, 1, 1.0 / 2, 1.0 / 6] },

        // DOPRI5: seven stages, the last with b = 0, R(z) = Σ_{k≤5} z^k/k! + z⁶/600 (Hairer, Nørsett & Wanner I, §II.5).
        { "dopri5", [1, 1, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 600] },
    };

    [Theory]
    [MemberData(nameof(KnownStabilityFunctions))]
    public void RealStabilityBound_MatchesTheStabilityPolynomial(string name, double[] coefficients)
    {
        var method = (ExplicitRungeKuttaMethod)MethodCatalog.Find(name)!;
        double bound = method.Tableau.RealStabilityBound;
        double expected = PolynomialBound(coefficients);
        output.WriteLine($"{name}: {bound:R} (polynomial {expected:R})");
        Assert.Equal(expected, bound, 1e-9);
        for (double z = -3; z <= 0; z += 0.37)
        {
            Assert.Equal(new Polynomial(coefficients).Evaluate(z), method.Tableau.StabilityFunction(z), 1e-12);
        }
    }

    [Fact]
    public void RealStabilityBound_OfTheLiteratureValues()
    {
        // Published: Euler 2, RK4 2.785, DOPRI5 ≈ 3.307; Tsitouras 5 and DOP853 lie beyond DOPRI5.
        foreach (ExplicitRungeKuttaMethod m in MethodCatalog.All.OfType<ExplicitRungeKuttaMethod>())
        {
            output.WriteLine($"{m.Name}: real stability bound {m.Tableau.RealStabilityBound:F4}");
        }

        Assert.Equal(2.0, ((ExplicitRungeKuttaMethod)MethodCatalog.Find("euler")!).Tableau.RealStabilityBound, 1e-10);
        Assert.Equal(2.7853, ((ExplicitRungeKuttaMethod)MethodCatalog.Find("rk4")!).Tableau.RealStabilityBound, 1e-4);
        Assert.Equal(3.307, ((ExplicitRungeKuttaMethod)MethodCatalog.Find("dopri5")!).Tableau.RealStabilityBound, 1e-3);
        Assert.True(((ExplicitRungeKuttaMethod)MethodCatalog.Find("tsit5")!).Tableau.RealStabilityBound > 3.307);
        Assert.True(((ExplicitRungeKuttaMethod)MethodCatalog.Find("dop853")!).Tableau.RealStabilityBound > 3.307);
    }

    [Fact]
    public void Catalogue_NamesThePairsOfAdaptiveExplicitAndExponentialMethods()
    {
        var pair = Assert.IsType<ExplicitThenExponential>(MethodCatalog.Find("tsit5+etdrk4"));
        Assert.Equal("tsit5", pair.First.Name);
        Assert.IsType<CoxMatthews4>(pair.Then);
        Assert.Null(MethodCatalog.Find("etdrk4+tsit5"));
        Assert.Null(MethodCatalog.Find("euler+etdrk4")); // fixed step
        Assert.IsType<ExplicitThenRosenbrock>(MethodCatalog.Find("tsit5+ros34pw2")); // the other kind of pair
        Assert.Null(MethodCatalog.Find("bs3+ros34pw2")); // BS3 cannot estimate stiffness (its last internal stage is at c = 3/4)
        Assert.Null(MethodCatalog.Find("tsit5+etdrk4+etd2"));
        Assert.All(MethodCatalog.Pairs, m => Assert.Same(m, MethodCatalog.Find(m.Name)));
    }

    [Fact]
    public void HeldByTheDecay_SwitchesToTheExponentialMethod_CheaperAndAsAccurate()
    {
        OdeResult alone = Solve(new DormandPrince5(), DecayLayout(), End);
        OdeResult pair = Solve(MethodCatalog.Find("dopri5+etdrk4")!, DecayLayout(), End);
        output.WriteLine($"dopri5 {alone.RhsEvaluations} evaluations, error {Math.Abs(alone.FinalState[0] - Exact(End)):g3}");
        output.WriteLine($"pair {pair.RhsEvaluations} evaluations, error {Math.Abs(pair.FinalState[0] - Exact(End)):g3}; {pair.StepperNote}");
        Assert.Equal(OdeStatus.Success, pair.Status);
        Assert.StartsWith("dopri5 until t = ", pair.StepperNote, StringComparison.Ordinal);
        Assert.Contains("then etdrk4", pair.StepperNote, StringComparison.Ordinal);

        // dopri5 alone is held at h ≤ 3.3/c for all 100 time units: over 30,000 steps.
        Assert.True(alone.AcceptedSteps > 30_000, $"{alone.AcceptedSteps} steps");
        Assert.True(pair.RhsEvaluations * 20 < alone.RhsEvaluations, $"{pair.RhsEvaluations} against {alone.RhsEvaluations}");
        Assert.True(Math.Abs(pair.FinalState[0] - Exact(End)) < 1e-8, $"error {pair.FinalState[0] - Exact(End)}");
    }

    [Fact]
    public void NotHeld_IsTheExplicitMethodBitForBit()
    {
        // Without a decay there is nothing to switch for; with a slow one a short solve never reaches the bound.
        foreach ((StateLayout layout, double t1) in new[] { (StateLayout.Single(1, 1e-6, 1e-9), 30.0), (DecayLayout(0.01), 5.0) })
        {
            OdeResult alone = Solve(new Tsitouras5(), layout, t1);
            OdeResult pair = Solve(MethodCatalog.Find("tsit5+etdrk4")!, layout, t1);
            Assert.Equal(alone.FinalState, pair.FinalState);
            Assert.Equal(alone.RhsEvaluations, pair.RhsEvaluations);
            Assert.Equal(alone.AcceptedSteps, pair.AcceptedSteps);
            Assert.Equal(alone.RejectedSteps, pair.RejectedSteps);
            Assert.StartsWith("tsit5 throughout", pair.StepperNote, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void CheckpointsBeforeAndAfterTheSwitch_ResumeBitForBit()
    {
        OdeMethod method = MethodCatalog.Find("dopri5+etdrk4")!;
        double[] times = Enumerable.Range(1, 20).Select(i => i * 5.0).ToArray();
        OdeOptions<HostState> Options(Func<bool>? due = null, Action<OdeCheckpoint>? write = null, OdeCheckpoint? resume = null) => new()
        {
            SaveAt = SaveAt.Times(times),
            CheckpointDue = due,
            Checkpoint = write,
            ResumeFrom = resume,
        };

        OdeResult whole = Solve(method, DecayLayout(), End, Options());
        var checkpoints = new List<OdeCheckpoint>();
        Solve(method, DecayLayout(), End, Options(() => true, checkpoints.Add));
        OdeCheckpoint[] before = checkpoints.Where(c => c.StepperMemory[0] == 0).ToArray();
        OdeCheckpoint[] after = checkpoints.Where(c => c.StepperMemory[0] == 1).ToArray();
        Assert.NotEmpty(before);
        Assert.NotEmpty(after);

        // The last explicit step, the step whose switch is due, the first exponential one, and one far after it.
        foreach (OdeCheckpoint c in new[] { before[^2], before[^1], after[0], after[after.Length / 2] })
        {
            ResumeAssert.ContinuesBitForBit(whole, Solve(method, DecayLayout(), End, Options(resume: c)));
        }
    }
}
