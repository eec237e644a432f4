using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Solvers;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Flows.Tests;

/// <summary>
/// The smoothed sign s/√(s² + δ²) against the exact SignGD flow θ' = −η sign(∇L), which is only piecewise
/// smooth (Sec. 3 of the paper). The problem: a linear predictor in 3 dims, exponential loss, two samples
/// x_a = (0.1, 2, 0), x_b = (−0.1, 0, 1), both labelled +1, θ(0) = (0, 0, 1), η ≡ 1. Coordinates 2 and 3 have
/// g_j &lt; 0 throughout; g_1 = −0.1 (w_a − w_b) has the sign of a − b (margins a, b). Since (a − b)' = 1.2 while
/// θ1' = +1 and 0.8 after θ1 turns to −1, g_1 crosses zero transversally at t* = 1/1.2 (cross, not slide:
/// the other coordinates, not θ1 itself, drive the crossing). So θ(T) = (2t* − T, T, 1 + T) exactly.
/// </summary>
public class SignSmoothingTests
{
    private const double FinalTime = 2.0;
    private static readonly double SwitchTime = 1 / 1.2;

    private static SmallNetworkOracle Oracle() => new([[0.1, 2, 0], [-0.1, 0, 1]], [1, 1], width: 0);

    private static readonly double[] Theta0 = [0, 0, 1];

    /// <summary>
    /// The exact flow integrated piecewise: between events the field is −η s with the sign pattern s frozen;
    /// a terminal event on s_j g_j = 0 (falling) ends each piece, s_j flips and the solve restarts.
    /// </summary>
    private static (double[] Theta, int Switches) ExactFlow()
    {
        SmallNetworkOracle oracle = Oracle();
        int n = Theta0.Length;
        var g = new double[n];
        var layout = new StateLayout([new StateBlock("theta", n, 1e-12, 1e-14)]);
        var algebra = new HostStateAlgebra(layout);
        double[] theta = (double[])Theta0.Clone();
        oracle.Evaluate(theta, g);
        int[] s = g.Select(Math.Sign).ToArray();
        double t = 0;
        int switches = 0;
        while (t < FinalTime)
        {
            int[] frozen = (int[])s.Clone();
            var term = new HostOdeTerm((_, _, dydt) =>
            {
                for (int j = 0; j < n; j++)
                {
                    dydt[j] = -frozen[j];
                }
            });
            var events = Enumerable.Range(0, n).Select(j => new OdeEvent<HostState>((_, y) =>
            {
                var gj = new double[n];
                oracle.Evaluate(y.Values, gj);
                return frozen[j] * gj[j];
            }, EventDirection.Falling)).ToArray();
            OdeResult piece = OdeSolver.Solve(term, algebra, MethodCatalog.Find("dopri5")!, t, FinalTime, new HostState(theta), new OdeOptions<HostState> { Events = events });
            Assert.True(piece.Succeeded, piece.Message);
            theta = piece.FinalState;
            t = piece.FinalTime;
            if (piece.Status == OdeStatus.EventReached)
            {
                s[piece.EventIndex] = -s[piece.EventIndex];
                switches++;
                Assert.True(switches < 10, "the exact flow should cross, not chatter");
            }
        }

        return (theta, switches);
    }

    private static OptimizerFlow SmoothedFlow(double width, SignMode mode = SignMode.Smooth)
    {
        SmallNetworkOracle oracle = Oracle();
        return new OptimizerFlow(oracle, OptimizerCatalog.Parts(new OptimizerSpec("signgd", 1.0, SignWidth: width, SignMode: mode), oracle.Layout), power: 0, tolerances: new FlowTolerances(1e-10, 1e-12));
    }

    private static double[] SmoothedTheta(OptimizerFlow flow, FlowSolveOptions? options = null)
    {
        OdeResult result = FlowSolver.Solve(flow, Theta0, (options ?? new FlowSolveOptions()) with { Method = "dopri5", MaxTime = FinalTime, TargetLogLoss = double.NegativeInfinity });
        Assert.Equal(OdeStatus.Success, result.Status);
        return flow.Theta(result.FinalState).ToArray();
    }

    [Fact]
    public void ExactFlow_WithSwitchEvents_CrossesOnceAtTheKnownTime()
    {
        (double[] theta, int switches) = ExactFlow();
        Assert.Equal(1, switches);
        double[] expected = [(2 * SwitchTime) - FinalTime, FinalTime, 1 + FinalTime];
        for (int j = 0; j < 3; j++)
        {
            Assert.Equal(expected[j], theta[j], 1e-9);
        }
    }

    [Fact]
    public void SmoothedSignFlow_TendsToTheExactFlow_AsTheWidthGoesToZero()
    {
        double[] exact = ExactFlow().Theta;
        double[] widths = [1e-1, 1e-2, 1e-3, 1e-4];
        var errors = widths.Select(w =>
        {
            double[] theta = SmoothedTheta(SmoothedFlow(w));
            return theta.Zip(exact, (a, b) => Math.Abs(a - b)).Max();
        }).ToArray();
        string table = string.Join(", ", widths.Zip(errors, (w, e) => $"{w:g1}: {e:e2}"));
        for (int k = 1; k < errors.Length; k++)
        {
            // Measured (rtol 1e-10): 1.7e-1, 4.8e-2, 9.3e-3, 1.05e-3 — the boundary layer around g_1 = 0 shrinks with
            // the width (δ is relative to max|g| = |g_2|, while g_1 moves slowly, hence the large constant).
            Assert.True(errors[k] < errors[k - 1] / 3, table);
        }

        Assert.True(errors[^1] < 2e-3, table);
    }

    [Fact]
    public void SignSwitchCounter_CountsTheOneCrossing_OfTheSmoothedFlow()
    {
        OptimizerFlow flow = SmoothedFlow(1e-3);
        var counter = new SignSwitchCounter(flow);
        SmoothedTheta(flow, new FlowSolveOptions { SaveAt = SaveAt.EveryStep(), OnSave = counter.Observe, KeepSavedStates = false });
        Assert.True(counter.Observations > 10);
        Assert.Equal(1, counter.Switches);
        Assert.Equal(1, counter.SwitchesPerCoordinate[0]);
    }
}
