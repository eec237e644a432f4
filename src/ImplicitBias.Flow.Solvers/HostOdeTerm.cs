using ImplicitBias.Flow.Core.State;

namespace ImplicitBias.Flow.Solvers;

/// <summary>dydt ← N(t, y) on host spans.</summary>
public delegate void HostRhs(double t, ReadOnlySpan<double> y, Span<double> dydt);

/// <summary>dndt ← ∂N/∂t at (t, y) on host spans, given n = N(t, y) (see <see cref="ITimeDerivativeTerm{TState}"/>).</summary>
public delegate void HostTimeDerivative(double t, ReadOnlySpan<double> y, ReadOnlySpan<double> n, Span<double> dndt);

/// <summary>
/// An <see cref="IOdeTerm{TState}"/> on host memory from a delegate. For a semilinear system
/// y' = −c_b y + N(t, y), give the layout blocks their decay rates c_b and let the delegate compute N only.
/// </summary>
/// <param name="rhs">The nonlinear part N (the whole right-hand side when no block decays).</param>
/// <param name="timeDerivative">∂N/∂t in closed form, when known (a Rosenbrock-W step then takes its time column from it).</param>
/// <param name="jacobianModel">A low-rank model of ∂N/∂y that costs no evaluation, when there is one (a Rosenbrock-W step puts it in its W).</param>
/// <param name="coordinateScales">The sizes at which coordinates matter below their blocks' (the Krylov methods weigh them so), when known.</param>
public sealed class HostOdeTerm(HostRhs rhs, HostTimeDerivative? timeDerivative = null, IJacobianModelTerm? jacobianModel = null, ICoordinateScaleTerm? coordinateScales = null)
    : IOdeTerm<HostState>, ITimeDerivativeTerm<HostState>, IJacobianModelTerm, ICoordinateScaleTerm
{
    /// <inheritdoc />
    public bool HasCoordinateScales => CoordinateScaleForwarding.Has(coordinateScales);

    /// <inheritdoc />
    public void CoordinateScales(double t, ReadOnlySpan<double> y, Span<double> scales) => CoordinateScaleForwarding.Forward(coordinateScales, t, y, scales);

    /// <inheritdoc />
    public int JacobianModelRank => jacobianModel?.JacobianModelRank ?? 0;

    /// <inheritdoc />
    public int JacobianModel(double t, ReadOnlySpan<double> y, ReadOnlySpan<double> n, double[][] range, double[][] coRange) =>
        jacobianModel is { JacobianModelRank: > 0 } model ? model.JacobianModel(t, y, n, range, coRange) : 0;

    private readonly HostRhs _rhs = rhs ?? throw new ArgumentNullException(nameof(rhs));

    /// <inheritdoc />
    public bool HasTimeDerivative => timeDerivative is not null;

    /// <inheritdoc />
    public void Evaluate(double t, HostState y, HostState dydt)
    {
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(dydt);
        _rhs(t, y.Values, dydt.Values);
    }

    /// <inheritdoc />
    public void TimeDerivative(double t, HostState y, HostState n, HostState destination)
    {
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(n);
        ArgumentNullException.ThrowIfNull(destination);
        if (timeDerivative is null)
        {
            throw new InvalidOperationException("This term has no closed-form time derivative.");
        }

        timeDerivative(t, y.Values, n.Values, destination.Values);
    }
}
