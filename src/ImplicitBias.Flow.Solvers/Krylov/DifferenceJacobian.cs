using ImplicitBias.Flow.Core.LinearAlgebra;
using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Controllers;

namespace ImplicitBias.Flow.Solvers.Krylov;

/// <summary>
/// Products ∂N/∂y · v at one point by forward differences of N (one evaluation each), and the error weights
/// Ω² = diag(1/sc_i²), sc_i = atol_b + rtol_b |y_i|, of the controller's tolerances at that point: the inner product in
/// which the Krylov methods (the Rosenbrock-W matrix, the exponential stepper's low-rank linear part) orthogonalize, so
/// that their spaces favour what the error norm sees. Where the term gives a coordinate's own size r_i
/// (<see cref="ICoordinateScaleTerm"/>), its block's absolute tolerance is taken against that size instead of the
/// block's largest value where that is smaller, sc_i = rtol_b |y_i| + min(atol_b, κ_b r_i), so that a coupling that
/// grows as the coordinate shrinks (Adam's 1/√ṽ_i) stays an entry of the weighted Jacobian's own order
/// (Flows/STEPPERS.md, "Adam's m̃ weighed against √ṽ in W"). The Rosenbrock-W method passes the term's sizes; the
/// exponential stepper's linear part does not (measured no more accurate with them).
/// </summary>
internal sealed class DifferenceJacobian<TState>
    where TState : class
{
    private readonly IStateAlgebra<TState> _algebra;
    private readonly ErrorTolerances _tolerances;
    private readonly int[] _offsets;
    private readonly TState _probe;
    private readonly TState _probeN;
    private readonly double[] _weights2;
    private readonly double[] _y;
    private readonly double[] _n;
    private readonly ICoordinateScaleTerm? _coordinateScales;
    private readonly double[] _sizes;
    private TState? _point;
    private Action<double, TState, TState>? _evaluate;

    public DifferenceJacobian(IStateAlgebra<TState> algebra, ErrorTolerances tolerances, ICoordinateScaleTerm? coordinateScales = null)
    {
        _algebra = algebra;
        _tolerances = tolerances;
        _coordinateScales = coordinateScales is { HasCoordinateScales: true } ? coordinateScales : null;
        _sizes = _coordinateScales is null ? [] : new double[algebra.Layout.Length];
        StateLayout layout = algebra.Layout;
        int blocks = layout.BlockCount;
        _offsets = Enumerable.Range(0, blocks + 1).Select(b => b < blocks ? layout.Offset(b) : layout.Length).ToArray();
        _probe = algebra.Allocate();
        _probeN = algebra.Allocate();
        _weights2 = new double[layout.Length];
        _y = new double[layout.Length];
        _n = new double[layout.Length];
    }

    /// <summary>The first index of each block, and the length as the last entry.</summary>
    public ReadOnlySpan<int> Offsets => _offsets;

    /// <summary>The time of the point (NaN before the first <see cref="SetPoint"/>).</summary>
    public double Time { get; private set; } = double.NaN;

    /// <summary>y at the point (host copy).</summary>
    public ReadOnlySpan<double> State => _y;

    /// <summary>N at the point (host copy).</summary>
    public ReadOnlySpan<double> Derivative => _n;

    /// <summary>The weights Ω² of the inner product at the point.</summary>
    public ReadOnlySpan<double> Weights => _weights2;

    /// <summary>The difference increment.</summary>
    public double Epsilon { get; private set; }

    /// <summary>
    /// Takes (t, y) with N(t, y) = <paramref name="n0"/> as the point of the next products (host copies of y and N are
    /// kept); <paramref name="evaluate"/> computes N. The state <paramref name="y"/> must not change while products are
    /// taken.
    /// </summary>
    public void SetPoint(double t, TState y, TState n0, Action<double, TState, TState> evaluate)
    {
        Time = t;
        _point = y;
        _evaluate = evaluate;
        _algebra.Read(y, _y);
        _algebra.Read(n0, _n);
        _coordinateScales?.CoordinateScales(t, _y, _sizes);
        for (int b = 0; b + 1 < _offsets.Length; b++)
        {
            // The controller's tolerances (block scale included), at the point.
            double max = 0;
            if (_tolerances.Scaled[b])
            {
                for (int i = _offsets[b]; i < _offsets[b + 1]; i++)
                {
                    max = Math.Max(max, Math.Abs(_y[i]));
                }
            }

            double atol = _tolerances.AbsTolAt(b, max);
            double rtol = _tolerances.RelTol[b];
            for (int i = _offsets[b]; i < _offsets[b + 1]; i++)
            {
                double sc = atol + (rtol * Math.Abs(_y[i]));
                _weights2[i] = sc > 0 ? 1.0 / (sc * sc) : 0.0;
            }

            if (_coordinateScales is not null)
            {
                double kappa = _tolerances.BlockScale[b];
                for (int i = _offsets[b]; i < _offsets[b + 1]; i++)
                {
                    double own = kappa * _sizes[i];
                    if (own > 0 && own < atol)
                    {
                        double sc = own + (rtol * Math.Abs(_y[i]));
                        _weights2[i] = 1.0 / (sc * sc);
                    }
                }
            }
        }

        // Difference increment of Knoll & Keyes (J. Comput. Phys. 193 (2004) 357, Eq. 11) in the weighted norm.
        Epsilon = 1.4901161193847656e-8 * (1 + Arnoldi.Norm(_y, _weights2)); // √(machine ε)
    }

    /// <summary>Ends the products at the point (the state passed to <see cref="SetPoint"/> may change again).</summary>
    public void Release()
    {
        _point = null;
        _evaluate = null;
    }

    /// <summary>
    /// jv ← ∂N/∂y · v by a forward difference (one evaluation); <paramref name="vState"/> receives v where the states
    /// live (callers keep it for their combinations).
    /// </summary>
    public void Product(ReadOnlySpan<double> v, TState vState, Span<double> jv)
    {
        TState point = _point ?? throw new InvalidOperationException("No point set.");
        _algebra.Write(v, vState);
        _algebra.Combine(point, [1.0], [Epsilon], new ReadOnlySpan<TState>(ref vState), false, _probe);
        _evaluate!(Time, _probe, _probeN);
        _algebra.Read(_probeN, jv);
        for (int i = 0; i < jv.Length; i++)
        {
            jv[i] = (jv[i] - _n[i]) / Epsilon;
        }
    }
}
