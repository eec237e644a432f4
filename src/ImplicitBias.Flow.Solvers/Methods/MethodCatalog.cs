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
        new Euler(), new ClassicalRungeKutta4(), new ExponentialEuler2(), new CoxMatthews4(), new Ros34Pw2(),
    ];

    /// <summary>The method named <paramref name="name"/>, or null.</summary>
    public static OdeMethod? Find(string name) => All.FirstOrDefault(m => m.Name == name);
}
