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
    private readonly double[] _relTol;
    private double _scale = 1;
    private readonly int _length;
    private double[]? _hostY0;
    private double[]? _hostY1;
    private double[]? _hostError;
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
        _relTol = tolerances.RelTol.ToArray();
        _length = algebra.Layout.Length;
    }

    /// <summary>The tolerances this norm judges by.</summary>
    public ErrorTolerances Tolerances { get; }

    /// <summary>
    /// A factor on every block's rtol and atol (1: the tolerances as given); a solve tightens it when its steps are
    /// found to have left the flow (<see cref="OdeOptions{TState}.ToleranceScale"/>).
    /// </summary>
    public double Scale
    {
        get => _scale;
        set
        {
            if (!(value > 0) || !double.IsFinite(value))
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "The tolerance scale must be positive and finite.");
            }

            _scale = value;
            for (int b = 0; b < _relTol.Length; b++)
            {
                _relTol[b] = Tolerances.RelTol[b] * value;
            }
        }
    }

    /// <summary>The scaled norm of <paramref name="error"/>, an error estimate of the step from y0 to y1.</summary>
    public double Measure(TState y0, TState y1, TState error)
    {
        if (Tolerances.AnyScaled)
        {
            _algebra.BlockMaxAbs(y1, Tolerances.Scaled, _maxAbs);
        }

        for (int b = 0; b < _absTol.Length; b++)
        {
            _absTol[b] = Tolerances.AbsTolAt(b, _maxAbs[b]) * _scale;
        }

        double norm = Math.Sqrt(_algebra.ScaledSquareSum(y0, y1, error, _relTol, _absTol) / _length);
        _lastY0 = y0;
        _lastY1 = y1;
        _lastError = error;
        return double.IsFinite(norm) ? norm : double.NaN;
    }

    /// <summary>
    /// What made the last <see cref="Measure"/> large (call it while its three states are untouched, i.e. right after
    /// a rejected attempt): the block with the largest share of the squared norm, and the coordinate with the
    /// largest scaled error |e_i| / sc_i. The states are read to the host (three copies of the state, on a rejection
    /// only), and the terms are the norm's own, with the absolute tolerances of that measurement.
    /// </summary>
    /// <returns>(block, coordinate), or (−1, −1) when there was no measurement or no term is finite.</returns>
    public (int Block, int Coordinate) CauseOfLast()
    {
        if (_lastY0 is null || _lastY1 is null || _lastError is null)
        {
            return (-1, -1);
        }

        _hostY0 ??= new double[_length];
        _hostY1 ??= new double[_length];
        _hostError ??= new double[_length];
        _algebra.Read(_lastY0, _hostY0);
        _algebra.Read(_lastY1, _hostY1);
        _algebra.Read(_lastError, _hostError);
        StateLayout layout = _algebra.Layout;
        int block = -1, coordinate = -1;
        double mostShare = -1, mostTerm = -1;
        for (int b = 0; b < layout.BlockCount; b++)
        {
            double atol = _absTol[b], rtol = _relTol[b], share = 0;
            int end = layout.Offset(b) + layout.Blocks[b].Length;
            for (int i = layout.Offset(b); i < end; i++)
            {
                double r = _hostError[i] / (atol + (rtol * Math.Max(Math.Abs(_hostY0[i]), Math.Abs(_hostY1[i]))));
                double term = r * r;
                if (!double.IsFinite(term))
                {
                    continue;
                }

                share += term;
                if (term > mostTerm)
                {
                    mostTerm = term;
                    coordinate = i;
                }
            }

            if (share > mostShare)
            {
                mostShare = share;
                block = b;
            }
        }

        return (block, coordinate);
    }
}
