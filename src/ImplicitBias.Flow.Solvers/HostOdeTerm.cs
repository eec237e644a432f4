using ImplicitBias.Flow.Core.State;

namespace ImplicitBias.Flow.Solvers;

/// <summary>dydt ← N(t, y) on host spans.</summary>
public delegate void HostRhs(double t, ReadOnlySpan<double> y, Span<double> dydt);

/// <summary>
/// An <see cref="IOdeTerm{TState}"/> on host memory from a delegate. For a semilinear system
/// y' = −c_b y + N(t, y), give the layout blocks their decay rates c_b and let the delegate compute N only.
/// </summary>
/// <param name="rhs">The nonlinear part N (the whole right-hand side when no block decays).</param>
public sealed class HostOdeTerm(HostRhs rhs) : IOdeTerm<HostState>
{
    private readonly HostRhs _rhs = rhs ?? throw new ArgumentNullException(nameof(rhs));

    /// <inheritdoc />
    public void Evaluate(double t, HostState y, HostState dydt)
    {
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(dydt);
        _rhs(t, y.Values, dydt.Values);
    }
}
