using ImplicitBias.Flow.Solvers.Exponential;
using ImplicitBias.Flow.Solvers.Rosenbrock;

namespace ImplicitBias.Flow.Solvers.Methods;

/// <summary>All methods by CLI name.</summary>
public static class MethodCatalog
{
    /// <summary>Every method, in CLI order.</summary>
    public static IReadOnlyList<OdeMethod> All { get; } =
    [
        new HeunEuler(), new BogackiShampine3(), new DormandPrince5(), new Tsitouras5(), new DormandPrince853(),
        new Euler(), new ClassicalRungeKutta4(), new ExponentialEuler2(), new CoxMatthews4(), new CoxMatthews4History(), new CoxMatthews4Krylov(), new Ros34Pw2(),
    ];

    /// <summary>
    /// Every <see cref="ExplicitThenExponential"/> pair "A+B": A an adaptive explicit Runge–Kutta method, B an adaptive
    /// exponential one (e.g. tsit5+etdrk4, what <c>auto</c> picks for the polar flows with momentum); and every
    /// <see cref="ExplicitThenRosenbrock"/> pair of an explicit method that can detect stiffness with a Rosenbrock-W
    /// method (dopri5+ros34pw2, what <c>auto</c> picks for GD, NGD and SignGD); and every
    /// <see cref="ExponentialThenRosenbrock"/> pair of an adaptive exponential method with a Rosenbrock-W method
    /// (etdrk4+ros34pw2).
    /// </summary>
    public static IReadOnlyList<OdeMethod> Pairs { get; } =
        All.OfType<ExplicitRungeKuttaMethod>().Where(a => a.IsAdaptive)
            .SelectMany(a => All.OfType<ExponentialRungeKuttaMethod>().Where(b => b.IsAdaptive).Select(b => (OdeMethod)new ExplicitThenExponential(a, b)))
            .Concat(All.OfType<ExplicitRungeKuttaMethod>().Where(a => a.IsAdaptive && ExplicitThenRosenbrock.CanDetect(a))
                .SelectMany(a => All.OfType<RosenbrockWMethod>().Select(b => (OdeMethod)new ExplicitThenRosenbrock(a, b))))
            .Concat(All.OfType<ExponentialRungeKuttaMethod>().Where(a => a.IsAdaptive)
                .SelectMany(a => All.OfType<RosenbrockWMethod>().Select(b => (OdeMethod)new ExponentialThenRosenbrock(a, b))))
            .ToArray();

    /// <summary>The method named <paramref name="name"/> (of <see cref="All"/> or <see cref="Pairs"/>), or null.</summary>
    public static OdeMethod? Find(string name) => All.FirstOrDefault(m => m.Name == name) ?? Pairs.FirstOrDefault(m => m.Name == name);
}
