using ImplicitBias.Flow.Core.State;

namespace ImplicitBias.Flow.Solvers.Controllers;

/// <summary>
/// The error norm of the step-size controllers, written once for every state algebra (Hairer, Nørsett, Wanner,
/// Solving ODEs I, §II.4, eq. (4.11)): the RMS over all components of e_i / sc_i with
/// sc_i = atol_b + rtol_b · max(|y0_i|, |y1_i|), where atol_b is raised to κ_b · max_i |y1_b,i| for a block with a
/// block scale (<see cref="ErrorTolerances"/>). NaN when any input is not finite, so that such a step is rejected.
/// The algebra supplies two reductions (<see cref="IStateAlgebra{TState}.BlockMaxAbs"/>,
/// <see cref="IStateAlgebra{TState}.ScaledSquareSum"/>); this class composes them and allocates only when built.
/// </summary>
/// <typeparam name="TState">The storage of one state vector.</typeparam>
public sealed class ScaledErrorNorm<TState>
    where TState : class
{
    private readonly IStateAlgebra<TState> _algebra;
    private readonly double[] _maxAbs;
    private readonly double[] _absTol;
    private readonly int _length;

    /// <summary>The norm of <paramref name="algebra"/>'s states under <paramref name="tolerances"/>.</summary>
    public ScaledErrorNorm(IStateAlgebra<TState> algebra, ErrorTolerances tolerances)
    {
        ArgumentNullException.ThrowIfNull(algebra);
        ArgumentNullException.ThrowIfNull(tolerances);
        if (tolerances.BlockCount != algebra.Layout.BlockCount)
        {
            throw new ArgumentException($"The tolerances have {tolerances.BlockCount} blocks, the state {algebra.Layout.BlockCount}.", nameof(tolerances));
        }

        _algebra = algebra;
        Tolerances = tolerances;
        _maxAbs = new double[tolerances.BlockCount];
        _absTol = new double[tolerances.BlockCount];
        _length = algebra.Layout.Length;
    }

    /// <summary>The tolerances this norm judges by.</summary>
    public ErrorTolerances Tolerances { get; }

    /// <summary>The scaled norm of <paramref name="error"/>, an error estimate of the step from y0 to y1.</summary>
    public double Measure(TState y0, TState y1, TState error)
    {
        if (Tolerances.AnyScaled)
        {
            _algebra.BlockMaxAbs(y1, Tolerances.Scaled, _maxAbs);
        }

        for (int b = 0; b < _absTol.Length; b++)
        {
            _absTol[b] = Tolerances.AbsTolAt(b, _maxAbs[b]);
        }

        double norm = Math.Sqrt(_algebra.ScaledSquareSum(y0, y1, error, Tolerances.RelTol, _absTol) / _length);
        return double.IsFinite(norm) ? norm : double.NaN;
    }
}
