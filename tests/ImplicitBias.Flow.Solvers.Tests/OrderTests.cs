using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Exponential;
using ImplicitBias.Flow.Solvers.Methods;
using Xunit.Abstractions;

namespace ImplicitBias.Flow.Solvers.Tests;

public class OrderTests(ITestOutputHelper output)
{
    // y' = y cos t (DETEST A3) on [0, 2]: exact y = e^{sin t}.
    private static readonly HostRhs A3 = (t, y, f) => f[0] = y[0] * Math.Cos(t);

    public static TheoryData<string> Methods => new() { "heun-euler", "bs3", "dopri5", "tsit5", "dop853", "euler", "rk4" };

    private static double Slope(double[] steps, double[] errors)
    {
        double a = Math.Log(errors[0] / errors[^1]);
        double b = Math.Log(steps[^1] / steps[0]);
        return a / b;
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void ExplicitMethod_GlobalErrorSlope_MatchesOrder(string name)
    {
        OdeMethod method = MethodCatalog.Find(name)!;
        // Step counts in the asymptotic range and above round-off for each order.
        // Step counts in the asymptotic range and above round-off for each order (Tsit5's small leading error
        // constant needs the longer interval to leave the pre-asymptotic range).
        int[] counts = method.Order >= 8 ? [8, 16] : method.Order >= 5 ? [60, 120] : [32, 64];
        double t1 = method.Order == 5 ? 6.0 : 2.0;
        double[] errors = counts.Select(n => Solve(method, n, t1, out _)).ToArray();
        double slope = Slope(counts.Select(c => (double)c).ToArray(), errors);
        output.WriteLine($"{name}: errors {string.Join(", ", errors.Select(e => e.ToString("g3")))}, slope {slope:f2}");
        Assert.InRange(slope, method.Order - 0.3, method.Order + 0.3);
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void DenseOutput_MidStepErrorSlope_MatchesInterpolantOrder(string name)
    {
        var method = (ExplicitRungeKuttaMethod)MethodCatalog.Find(name)!;
        // Local interpolation error inside one step from the exact y0 is O(h^{p*+1}), p* the interpolant order.
        int denseOrder = method.HasOwnDenseOutput ? (method.Order == 8 ? 7 : 4) : Math.Min(method.Order, 3);
        double[] steps = denseOrder >= 7 ? [0.2, 0.1] : [0.1, 0.05];
        // At θ = 1/2 DOP853's h^8 term nearly cancels on this problem, so it is probed at θ = 0.3.
        double theta = denseOrder >= 7 ? 0.3 : 0.5;
        double[] errors = steps.Select(h => MidStepError(method, h, theta)).ToArray();
        double slope = Slope(steps.Select(h => 1 / h).ToArray(), errors);
        output.WriteLine($"{name} dense: errors {errors[0]:g3} {errors[1]:g3}, slope {slope:f2}");
        Assert.InRange(slope, denseOrder + 1 - 0.3, denseOrder + 1 + 0.3);
    }

    [Theory]
    [InlineData("etd2", 2)]
    [InlineData("etdrk4", 4)]
    public void ExponentialMethod_OnSemilinearProblem_HasItsOrder(string name, int order)
    {
        OdeMethod method = MethodCatalog.Find(name)!;
        // y' = −2 y + sin(y) + cos t with decay 2 on [0, 2]; reference from DOP853 at tight tolerance.
        HostRhs rhs = (t, y, f) => f[0] = Math.Sin(y[0]) + Math.Cos(t);
        var layout = StateLayout.Single(1, 1e-13, 1e-13, decayRate: 2.0);
        double reference = OdeSolver.Solve(new HostOdeTerm(rhs), new HostStateAlgebra(layout), new DormandPrince853(), 0, 2, new HostState([1.0])).FinalState[0];
        int[] counts = [16, 32];
        double[] errors = counts.Select(n =>
            Math.Abs(OdeSolver.Solve(new HostOdeTerm(rhs), new HostStateAlgebra(layout), method, 0, 2, new HostState([1.0]), new OdeOptions<HostState> { FixedStepCount = n }).FinalState[0] - reference)).ToArray();
        double slope = Slope([16, 32], errors);
        output.WriteLine($"{name}: errors {errors[0]:g3} {errors[1]:g3}, slope {slope:f2}");
        Assert.InRange(slope, order - 0.3, order + 0.3);
    }

    private static double Solve(OdeMethod method, int steps, double t1, out OdeResult result)
    {
        var algebra = new HostStateAlgebra(StateLayout.Single(1));
        result = OdeSolver.Solve(new HostOdeTerm(A3), algebra, method, 0, t1, new HostState([1.0]), new OdeOptions<HostState> { FixedStepCount = steps });
        return Math.Abs(result.FinalState[0] - Math.Exp(Math.Sin(t1)));
    }

    private static double MidStepError(OdeMethod method, double h, double theta)
    {
        var algebra = new HostStateAlgebra(StateLayout.Single(1));
        var options = new OdeOptions<HostState> { FixedStepCount = 1, SaveAt = SaveAt.Times(theta * h) };
        OdeResult result = OdeSolver.Solve(new HostOdeTerm(A3), algebra, method, 0, h, new HostState([1.0]), options);
        return Math.Abs(result.SavedStates[0][0] - Math.Exp(Math.Sin(theta * h)));
    }
}
