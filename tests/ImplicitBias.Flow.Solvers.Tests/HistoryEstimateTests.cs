using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Exponential;
using ImplicitBias.Flow.Solvers.Methods;
using Xunit.Abstractions;

namespace ImplicitBias.Flow.Solvers.Tests;

/// <summary>
/// "etdrk4h": ETDRK4 whose error estimate borrows N at the previous step's start. The embedded rule's moments, the
/// order of the estimate seen through the controller, accuracy at the tolerance, and bit-for-bit checkpoints (the
/// history is stepper memory).
/// </summary>
public class HistoryEstimateTests(ITestOutputHelper output)
{
    // y' = −2 y + sin(y) + cos t, the decay 2 in the layout (the flows' semilinear form).
    private static readonly HostRhs Semilinear = (t, y, f) => f[0] = Math.Sin(y[0]) + Math.Cos(t);

    private static StateLayout Layout(double tol) => StateLayout.Single(1, tol, tol, decayRate: 2.0);

    private static OdeResult Solve(string method, double tol, double t1, OdeOptions<HostState>? options = null) =>
        OdeSolver.Solve(new HostOdeTerm(Semilinear), new HostStateAlgebra(Layout(tol)), MethodCatalog.Find(method)!, 0, t1, new HostState([1.0]), options);

    [Theory]
    [InlineData(0.0, 1.0)]
    [InlineData(-0.3, 0.5)]
    [InlineData(-2.0, 2.0)]
    [InlineData(-60.0, 1.3)]
    public void EmbeddedRule_IntegratesQuadraticsExactly_ForEveryDecay(double z, double r)
    {
        var method = new CoxMatthews4History();
        var embedded = new double[5];
        method.HistoryEmbeddedWeights(r, z, embedded);
        double[] nodes = [-r, 0.0, 0.5, 0.5, 1.0];
        Span<double> phi = stackalloc double[4];
        Phi.Evaluate(z, phi);

        // ∫₀¹ e^{z(1−s)} s^k ds = k! φ_{k+1}(z) for k = 0, 1, 2 (the stiff quadrature conditions up to order 3).
        double[] exact = [phi[1], phi[2], 2 * phi[3]];
        for (int k = 0; k < 3; k++)
        {
            double moment = 0;
            for (int i = 0; i < 5; i++)
            {
                moment += embedded[i] * Math.Pow(nodes[i], k);
            }

            Assert.Equal(exact[k], moment, 1e-13);
        }

        // It differs from ETDRK4's Simpson weights (else the estimate would vanish), and stages 2 and 3 keep equal
        // differences b − b̂, so ETDRK4's second-order stage errors cancel in the estimate as in the solution.
        var weights = new double[4];
        method.Weights(1.0, z, weights, []);
        Assert.Equal(weights[1] - embedded[2], weights[2] - embedded[3], 1e-15);
        Assert.True(Math.Abs(weights[3] - embedded[4]) > 1e-3 * Math.Abs(weights[3]));
    }

    [Fact]
    public void StepCount_GrowsLikeTolToTheMinusQuarter_AgainstAThirdForTheSecondOrderEstimate()
    {
        // N ∝ tol^(−1/q): q = 4 for the history estimate, q = 3 for ETDRK4's own pair. A history estimate that fell
        // back to the stages alone would show the slope of etdrk4.
        double Slope(string method)
        {
            long coarse = Solve(method, 1e-7, 40).AcceptedSteps;
            long fine = Solve(method, 1e-11, 40).AcceptedSteps;
            double slope = Math.Log((double)fine / coarse) / Math.Log(1e4);
            output.WriteLine($"{method}: {coarse} → {fine} steps, slope {slope:f3}");
            return slope;
        }

        Assert.InRange(Slope("etdrk4h"), 0.2, 0.28);
        Assert.InRange(Slope("etdrk4"), 0.3, 0.37);
    }

    [Theory]
    [InlineData(1e-6)]
    [InlineData(1e-9)]
    public void AdaptiveSolve_MeetsItsTolerance_InFewerStepsThanTheSecondOrderEstimate(double tol)
    {
        double reference = OdeSolver.Solve(new HostOdeTerm(Semilinear), new HostStateAlgebra(Layout(1e-13)), new DormandPrince853(), 0, 40, new HostState([1.0])).FinalState[0];
        OdeResult history = Solve("etdrk4h", tol, 40);
        OdeResult stages = Solve("etdrk4", tol, 40);
        double error = Math.Abs(history.FinalState[0] - reference);
        output.WriteLine($"tol {tol:g1}: etdrk4h {history.AcceptedSteps} steps, error {error:g3}; etdrk4 {stages.AcceptedSteps} steps, error {Math.Abs(stages.FinalState[0] - reference):g3}");
        Assert.True(error < 10 * tol, $"error {error:g3} at tolerance {tol:g1}");
        Assert.True(history.AcceptedSteps < stages.AcceptedSteps);
    }

    [Fact]
    public void CheckpointsResumeBitForBit_WithTheHistoryInStepperMemory()
    {
        double[] times = Enumerable.Range(1, 20).Select(i => i * 2.0).ToArray();
        OdeOptions<HostState> Options(Func<bool>? due = null, Action<OdeCheckpoint>? write = null, OdeCheckpoint? resume = null) => new()
        {
            SaveAt = SaveAt.Times(times),
            CheckpointDue = due,
            Checkpoint = write,
            ResumeFrom = resume,
        };

        OdeResult whole = Solve("etdrk4h", 1e-8, 40, Options());
        var checkpoints = new List<OdeCheckpoint>();
        Solve("etdrk4h", 1e-8, 40, Options(() => true, checkpoints.Add));
        Assert.True(checkpoints.Count > 10);

        // [h of the previous step, N at its start]: every checkpoint after the first step carries it.
        Assert.All(checkpoints.Skip(1), c => Assert.Equal(2, c.StepperMemory.Length));
        foreach (OdeCheckpoint c in new[] { checkpoints[1], checkpoints[checkpoints.Count / 2], checkpoints[^2] })
        {
            ResumeAssert.ContinuesBitForBit(whole, Solve("etdrk4h", 1e-8, 40, Options(resume: c)));
        }

        // Without the memory (a checkpoint of another stepper) the solve still goes on, from the stages' estimate.
        OdeCheckpoint bare = checkpoints[checkpoints.Count / 2] with { StepperMemory = [] };
        OdeResult fallback = Solve("etdrk4h", 1e-8, 40, Options(resume: bare));
        Assert.Equal(whole.FinalState[0], fallback.FinalState[0], 1e-6);
    }
}
