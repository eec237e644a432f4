using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Exponential;
using ImplicitBias.Flow.Solvers.Methods;
using Xunit.Abstractions;

namespace ImplicitBias.Flow.Solvers.Tests;

/// <summary>
/// "etdrk4k", ETDRK4 whose linear part adds the Galerkin projection of ∂N/∂y on block-split Ritz vectors: the matrix
/// φ-functions, exactness where the space holds the whole Jacobian (a fast θ–m pair), steps past the explicit bound of
/// a stiff mode in N, dense output, and a bit-for-bit resume.
/// </summary>
public class KrylovExponentialTests(ITestOutputHelper output)
{
    [Fact]
    public void MatrixPhi_OfADiagonalMatrix_IsTheScalarPhi()
    {
        double[] z = [-3.0, 0, 0, 0, -1e-3, 0, 0, 0, 12.5];
        double[][] phi = [new double[9], new double[9], new double[9], new double[9]];
        MatrixPhi.EvaluateOnce(z, phi);
        Span<double> scalar = stackalloc double[4];
        for (int i = 0; i < 3; i++)
        {
            Phi.Evaluate(z[(i * 3) + i], scalar);
            for (int k = 0; k < 4; k++)
            {
                Assert.Equal(scalar[k], phi[k][(i * 3) + i], 1e-13 * Math.Max(1, Math.Abs(scalar[k])));
                Assert.Equal(0.0, phi[k][(i * 3) + ((i + 1) % 3)], 1e-14);
            }
        }
    }

    [Fact]
    public void MatrixPhi_OfARotation_MatchesTheComplexPhi()
    {
        // Z = [[a, −b], [b, a]] ≅ a + ib: φ_k(Z) = [[Re, −Im], [Im, Re]] of φ_k(a + ib), from the series / recurrence.
        const double a = -0.7, b = 40.0;
        double[][] phi = [new double[4], new double[4], new double[4], new double[4]];
        MatrixPhi.EvaluateOnce([a, -b, b, a], phi);
        var zc = new System.Numerics.Complex(a, b);
        System.Numerics.Complex p = System.Numerics.Complex.Exp(zc);
        double factorial = 1;
        for (int k = 0; k < 4; k++)
        {
            Assert.Equal(p.Real, phi[k][0], 1e-12);
            Assert.Equal(-p.Imaginary, phi[k][1], 1e-12);
            Assert.Equal(p.Imaginary, phi[k][2], 1e-12);
            Assert.Equal(p.Real, phi[k][3], 1e-12);
            p = (p - (1.0 / factorial)) / zc;
            factorial *= k + 1;
        }
    }

    [Fact]
    public void MatrixCoefficients_OfAOneByOneMatrix_AreTheScalarMethods()
    {
        var scalar = new CoxMatthews4();
        foreach (double z in new[] { -1e-4, -0.3, -2.0, -35.0 })
        {
            double[][] half = [new double[1], new double[1]];
            double[][] full = [new double[1], new double[1], new double[1], new double[1]];
            MatrixPhi.EvaluateOnce([z / 2], half);
            MatrixPhi.EvaluateOnce([z], full);
            double[][] row = [new double[1], new double[1], new double[1]];
            double[] scale = new double[1];
            var expected = new double[3];
            for (int stage = 1; stage < 4; stage++)
            {
                CoxMatthews4Krylov.MatrixStageCoefficients(stage, half[0], half[1], full[0], row, scale);
                scalar.StageCoefficients(stage, z, expected.AsSpan(0, stage));
                for (int j = 0; j < stage; j++)
                {
                    Assert.Equal(expected[j], row[j][0], 1e-13);
                }

                Assert.Equal(Math.Exp(scalar.Nodes[stage] * z), scale[0], 1e-13);
            }

            double[][] w = [new double[1], new double[1], new double[1], new double[1]];
            double[][] wHat = [new double[1], new double[1], new double[1], new double[1]];
            CoxMatthews4Krylov.MatrixWeights(full, w, wHat);
            var weights = new double[4];
            var embedded = new double[4];
            scalar.Weights(1.0, z, weights, embedded);
            for (int j = 0; j < 4; j++)
            {
                Assert.Equal(weights[j], w[j][0], 1e-13);
                Assert.Equal(embedded[j], wHat[j][0], 1e-13);
            }
        }
    }

    /// <summary>
    /// θ′ = −m, m′ = c (λ θ − m) with the decay c in m's block: the linear θ–m pair of the flows with momentum
    /// (eigenvalues −c/2 ± i√(cλ − c²/4)), here ω ≈ 31.6. The Krylov space is the whole state, so the linear part is
    /// the Jacobian and the method integrates exactly, in steps far past ETDRK4's bound ≈ 2.8/ω.
    /// </summary>
    [Fact]
    public void LinearThetaMomentumPair_IsIntegratedExactlyInLongSteps()
    {
        const double c = 0.1, lambda = 1e4, t1 = 20;
        HostRhs rhs = (t, y, f) =>
        {
            f[0] = -y[1];
            f[1] = c * lambda * y[0];
        };
        var layout = new StateLayout([new StateBlock("theta", 1, 1e-8, 1e-10), new StateBlock("m", 1, 1e-8, 1e-10, 0, c)]);
        OdeResult Solve(string name) => OdeSolver.Solve(new HostOdeTerm(rhs), new HostStateAlgebra(layout), MethodCatalog.Find(name)!, 0, t1, new HostState([1.0, 0.0]));

        // Exact: y = e^{t J} y0 with J = [[0, −1], [cλ, −c]].
        double mu = -c / 2, omega = Math.Sqrt((c * lambda) - (c * c / 4));
        double Theta(double t) => Math.Exp(mu * t) * (Math.Cos(omega * t) - (mu / omega * Math.Sin(omega * t)));
        OdeResult run = Solve("etdrk4k");
        OdeResult etdrk4 = Solve("etdrk4");
        output.WriteLine($"etdrk4k {run.AcceptedSteps}+{run.RejectedSteps} steps, {run.RhsEvaluations} evaluations, θ error {run.FinalState[0] - Theta(t1):g3}; etdrk4 {etdrk4.AcceptedSteps}+{etdrk4.RejectedSteps}");
        Assert.Equal(OdeStatus.Success, run.Status);
        // Not to round-off: S comes from forward differences (relative error ~√ε), a phase error over ωt ≈ 630 radians.
        Assert.Equal(Theta(t1), run.FinalState[0], 1e-6);
        Assert.True(10 * run.AcceptedSteps <= etdrk4.AcceptedSteps, $"{run.AcceptedSteps} steps against etdrk4's {etdrk4.AcceptedSteps}");
    }

    private static OdeResult SolveStiff(OdeMethod method, double rtol, OdeOptions<HostState>? options = null) =>
        OdeSolver.Solve(new HostOdeTerm(StiffTestProblems.OneStiffModeInN), new HostStateAlgebra(StateLayout.Single(StiffTestProblems.Size, rtol, rtol * 1e-2)), method, 0, 5,
            new HostState(StiffTestProblems.Start()), options);

    [Fact]
    public void OneStiffModeInN_IsSteppedPastAndAccurate()
    {
        OdeResult reference = SolveStiff(new DormandPrince853(), 1e-11);
        OdeResult run = SolveStiff(MethodCatalog.Find("etdrk4k")!, 1e-6);
        OdeResult etdrk4 = SolveStiff(MethodCatalog.Find("etdrk4")!, 1e-6);
        double error = run.FinalState.Zip(reference.FinalState, (a, b) => Math.Abs(a - b)).Max();
        output.WriteLine($"etdrk4k {run.AcceptedSteps}+{run.RejectedSteps} steps, {run.RhsEvaluations} evaluations, error {error:g3}; etdrk4 {etdrk4.AcceptedSteps}+{etdrk4.RejectedSteps}, {etdrk4.RhsEvaluations}");
        Assert.Equal(OdeStatus.Success, run.Status);
        Assert.True(10 * run.RhsEvaluations <= etdrk4.RhsEvaluations, $"{run.RhsEvaluations} evaluations against etdrk4's {etdrk4.RhsEvaluations}");
        Assert.True(error < 1e-5, $"error {error:g3}");
    }

    [Fact]
    public void CheckpointsResumeBitForBit_WithTheLinearPartAndHistoryInStepperMemory()
    {
        double[] times = Enumerable.Range(1, 10).Select(i => i * 0.5).ToArray();
        OdeOptions<HostState> Options(Func<bool>? due = null, Action<OdeCheckpoint>? write = null, OdeCheckpoint? resume = null) => new()
        {
            SaveAt = SaveAt.Times(times),
            CheckpointDue = due,
            Checkpoint = write,
            ResumeFrom = resume,
        };

        // Rebuilt every 3 steps, so that checkpoints fall at, just after and between builds.
        var method = new CoxMatthews4Krylov { RefreshEvery = 3 };
        OdeResult whole = SolveStiff(method, 1e-6, Options());
        var checkpoints = new List<OdeCheckpoint>();
        SolveStiff(method, 1e-6, Options(() => true, checkpoints.Add));
        Assert.True(checkpoints.Count > 10);
        Assert.All(checkpoints.Skip(1), c => Assert.Equal(5 + (4 * StiffTestProblems.Size), c.StepperMemory.Length));
        foreach (OdeCheckpoint c in new[] { checkpoints[1], checkpoints[2], checkpoints[3], checkpoints[checkpoints.Count / 2], checkpoints[^2] })
        {
            ResumeAssert.ContinuesBitForBit(whole, SolveStiff(method, 1e-6, Options(resume: c)));
        }

        // Without the memory (a checkpoint of another stepper) the solve rebuilds and goes on.
        OdeCheckpoint bare = checkpoints[checkpoints.Count / 2] with { StepperMemory = [] };
        OdeResult fallback = SolveStiff(method, 1e-6, Options(resume: bare));
        Assert.Equal(OdeStatus.Success, fallback.Status);
        Assert.Equal(whole.FinalState[0], fallback.FinalState[0], 1e-5);
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
        OdeResult result = OdeSolver.Solve(new HostOdeTerm(harmonic), new HostStateAlgebra(StateLayout.Single(2, 1e-8, 1e-8)), MethodCatalog.Find("etdrk4k")!, 0, 10, new HostState([0.0, 1.0]), new OdeOptions<HostState> { SaveAt = SaveAt.Times(times) });
        double worst = times.Select((t, i) => Math.Abs(result.SavedStates[i][0] - Math.Sin(t))).Max();
        output.WriteLine($"{result.AcceptedSteps} steps, worst saved error {worst:g3}");
        Assert.True(worst < 1e-7, $"dense output off by {worst:g3}");
    }
}
