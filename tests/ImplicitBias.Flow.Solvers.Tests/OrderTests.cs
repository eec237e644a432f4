using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Exponential;
using ImplicitBias.Flow.Solvers.Methods;
using Xunit.Abstractions;

namespace ImplicitBias.Flow.Solvers.Tests;

public class OrderTests(ITestOutputHelper output)
{
    // y' = y cos t (DETEST A3) on [0, 2]: exact y = e^{sin t}.
    private static readonly HostRhs A3 = (t, y, f) => f[0] = y[0] * Math.Cos(t);

    /// <summary>Every method of the catalogue: a new method is order-tested without being listed here.</summary>
    public static TheoryData<string> AllMethods => new(MethodCatalog.All.Select(m => m.Name));

    /// <summary>The catalogue's explicit Runge–Kutta methods (order and dense output on DETEST A3).</summary>
    public static TheoryData<string> Methods => new(MethodCatalog.All.OfType<ExplicitRungeKuttaMethod>().Select(m => m.Name));

    /// <summary>The catalogue's exponential methods, with their orders.</summary>
    public static TheoryData<string, int> ExponentialMethods
    {
        get
        {
            var data = new TheoryData<string, int>();
            foreach (ExponentialRungeKuttaMethod m in MethodCatalog.All.OfType<ExponentialRungeKuttaMethod>())
            {
                data.Add(m.Name, m.Order);
            }

            return data;
        }
    }

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
    [MemberData(nameof(ExponentialMethods))]
    public void ExponentialMethod_OnSemilinearProblem_HasItsOrder(string name, int order)
    {
        OdeMethod method = MethodCatalog.Find(name)!;
        // y' = −2 y + sin(y) + cos t with decay 2 on [0, 2]; reference from DOP853 at tight tolerance.
        HostRhs rhs = (t, y, f) => f[0] = Math.Sin(y[0]) + Math.Cos(t);
        var layout = StateLayout.Single(1, 1e-13, 1e-13, decayRate: 2.0);
        double reference = OdeSolver.Solve(new HostOdeTerm(rhs), new HostStateAlgebra(layout), new DormandPrince853(), 0, 2, new HostState([1.0])).FinalState[0];
        // 32 and 64 steps: in the asymptotic range of every exponential method (etdrk4k's linear part, which holds the
        // Jacobian, is still exact from its first build at 16 steps and makes the error fall faster there).
        int[] counts = [32, 64];
        double[] errors = counts.Select(n =>
            Math.Abs(OdeSolver.Solve(new HostOdeTerm(rhs), new HostStateAlgebra(layout), method, 0, 2, new HostState([1.0]), new OdeOptions<HostState> { FixedStepCount = n }).FinalState[0] - reference)).ToArray();
        double slope = Slope([32, 64], errors);
        output.WriteLine($"{name}: errors {errors[0]:g3} {errors[1]:g3}, slope {slope:f2}");
        Assert.InRange(slope, order - 0.3, order + 0.3);
    }

    /// <summary>
    /// Every catalogue method, with equal steps on y' = −2 y + sin(y) + cos t (decay 2 in the layout, the flows'
    /// semilinear form) on [0, 2], converges at its declared classical order against a DOP853 reference at 1e-13.
    /// </summary>
    [Theory]
    [MemberData(nameof(AllMethods))]
    public void EveryMethod_OnSemilinearProblem_ConvergesAtItsOrder(string name)
    {
        OdeMethod method = MethodCatalog.Find(name)!;
        HostRhs rhs = (t, y, f) => f[0] = Math.Sin(y[0]) + Math.Cos(t);
        var layout = StateLayout.Single(1, 1e-13, 1e-13, decayRate: 2.0);
        double reference = OdeSolver.Solve(new HostOdeTerm(rhs), new HostStateAlgebra(layout), new DormandPrince853(), 0, 2, new HostState([1.0])).FinalState[0];
        // Step counts in each order's asymptotic range and above round-off (the W-method's stale W needs ≥ 64 steps).
        int[] counts = method.Order >= 8 ? [4, 8] : method.Order >= 5 ? [24, 48] : [64, 128];
        double[] errors = counts.Select(n =>
            Math.Abs(OdeSolver.Solve(new HostOdeTerm(rhs), new HostStateAlgebra(layout), method, 0, 2, new HostState([1.0]), new OdeOptions<HostState> { FixedStepCount = n }).FinalState[0] - reference)).ToArray();
        double slope = Slope(counts.Select(c => (double)c).ToArray(), errors);
        output.WriteLine($"{name}: errors {errors[0]:g3} {errors[1]:g3}, slope {slope:f2}");
        Assert.InRange(slope, method.Order - 0.3, method.Order + 0.3);
    }

    [Fact]
    public void OrderTests_EnumerateTheWholeCatalogue()
    {
        // The pin: the catalogue-wide theory is fed by the catalogue itself, and every method has a unique name.
        string[] names = MethodCatalog.All.Select(m => m.Name).ToArray();
        Assert.Equal(names, ((IEnumerable<object[]>)AllMethods).Select(row => (string)row[0]));
        Assert.Equal(names.Length, names.Distinct().Count());
        Assert.All(names, n => Assert.Same(MethodCatalog.Find(n), MethodCatalog.All.Single(m => m.Name == n)));
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
