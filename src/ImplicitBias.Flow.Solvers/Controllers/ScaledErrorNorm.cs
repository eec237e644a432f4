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
    private readonly double[] _maskedRelTol;
    private readonly double[] _maskedAbsTol;
    private readonly int _length;
    private TState? _lastY0;
    private TState? _lastY1;
    private TState? _lastError;

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
        _maskedRelTol = new double[tolerances.BlockCount];
        _maskedAbsTol = new double[tolerances.BlockCount];
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
        _lastY0 = y0;
        _lastY1 = y1;
        _lastError = error;
        return double.IsFinite(norm) ? norm : double.NaN;
    }

    /// <summary>
    /// The block with the largest share of the squared norm in the last <see cref="Measure"/> (while its three
    /// states are untouched, i.e. right after a step attempt): what made the controller reject a step. One more
    /// reduction per block; the other blocks are masked by an infinite absolute tolerance and a zero relative one
    /// (∞ · 0 would be NaN), so the algebra's own reduction, on the host or the device, does the work.
    /// </summary>
    /// <returns>The block index, or −1 when there was no measurement or no share is finite.</returns>
    public int LargestShareOfLast()
    {
        if (_lastY0 is null || _lastY1 is null || _lastError is null)
        {
            return -1;
        }

        int largest = -1;
        double most = -1;
        for (int b = 0; b < _absTol.Length; b++)
        {
            for (int o = 0; o < _absTol.Length; o++)
            {
                _maskedRelTol[o] = o == b ? Tolerances.RelTol[o] : 0.0;
                _maskedAbsTol[o] = o == b ? _absTol[o] : double.PositiveInfinity;
            }

            double share = _algebra.ScaledSquareSum(_lastY0, _lastY1, _lastError, _maskedRelTol, _maskedAbsTol);
            if (double.IsFinite(share) && share > most)
            {
                most = share;
                largest = b;
            }
        }

        return largest;
    }
}
