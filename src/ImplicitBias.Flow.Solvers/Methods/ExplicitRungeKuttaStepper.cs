using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Controllers;

namespace ImplicitBias.Flow.Solvers.Methods;

/// <summary>The per-solve cache of an <see cref="ExplicitRungeKuttaMethod"/>.</summary>
internal sealed class ExplicitRungeKuttaStepper<TState> : IStepper<TState>
    where TState : class
{
    private readonly ExplicitRungeKuttaMethod _method;
    private readonly ButcherTableau _tableau;
    private readonly IStateAlgebra<TState> _algebra;
    private readonly ScaledErrorNorm<TState> _norm;
    private readonly IOdeTerm<TState> _term;
    private readonly TState[] _k;
    private readonly TState[] _dense;
    private readonly TState[] _hermite = new TState[3];
    private readonly TState _stageState;
    private readonly TState _error;
    private readonly TState? _error3;
    private readonly TState? _nonlinear;
    private readonly TState[] _nonlinearStage;
    private readonly TState _f1;
    private readonly double[] _coefficients;
    private readonly double[] _negDecay;
    private readonly double[] _ones;
    private readonly double[] _one = [1.0];
    private readonly bool _semilinear;
    private bool _pendingSwap;
    private TState? _y0;
    private TState? _y1;
    private double _h;
    private double _t0;
    private bool _extrasReady;
    private TState? _stiffness;
    private readonly double[] _zeros;

    public ExplicitRungeKuttaStepper(ExplicitRungeKuttaMethod method, IStateAlgebra<TState> algebra, IOdeTerm<TState> term, ScaledErrorNorm<TState> norm)
    {
        _method = method;
        _tableau = method.Tableau;
        _algebra = algebra;
        _norm = norm;
        _term = term;
        int s = _tableau.Stages;
        _k = new TState[s];
        for (int i = 0; i < s; i++)
        {
            _k[i] = algebra.Allocate();
        }

        _f1 = _tableau.IsFsal ? _k[s - 1] : algebra.Allocate();
        int extra = method.DenseExtraRows.Length;
        _dense = new TState[s + 1 + extra];
        for (int i = 0; i < extra; i++)
        {
            _dense[s + 1 + i] = algebra.Allocate();
        }

        _stageState = algebra.Allocate();
        _error = algebra.Allocate();
        _error3 = method.ThirdOrderErrorWeights is null ? null : algebra.Allocate();
        StateLayout layout = algebra.Layout;
        _semilinear = layout.IsSemilinear;
        _nonlinear = _semilinear ? algebra.Allocate() : null;
        _nonlinearStage = _nonlinear is null ? [] : [_nonlinear];
        _negDecay = layout.Blocks.Select(b => -b.DecayRate).ToArray();
        _ones = Enumerable.Repeat(1.0, layout.BlockCount).ToArray();
        _coefficients = new double[Math.Max(s + 1 + extra, 3)];
        _zeros = new double[layout.BlockCount];
    }

    /// <summary>
    /// Set to measure <see cref="StiffnessProduct"/> at each accepted step (two differences and two sums of squares);
    /// only where <see cref="ButcherTableau.CanEstimateStiffness"/>.
    /// </summary>
    public bool MeasureStiffness
    {
        get => _stiffness is not null;
        set
        {
            if (value && _stiffness is null && _tableau.CanEstimateStiffness)
            {
                _stiffness = _algebra.Allocate();
            }
        }
    }

    /// <summary>
    /// h ‖f(y1) − f(Y)‖ / ‖y1 − Y‖ of the last accepted step, Y the last internal stage (at the same time as y1): h times an
    /// estimate of the largest |λ| of ∂f/∂y the step felt (Hairer, Nørsett &amp; Wanner I, §II.10, "Stiffness
    /// detection", as in DOPRI5). NaN when not measured.
    /// </summary>
    public double StiffnessProduct { get; private set; } = double.NaN;

    public long Evaluations { get; private set; }

    public TState FirstStage => _k[0];

    public void Start(double t, TState y)
    {
        Rhs(t, y, _k[0]);
        _pendingSwap = false;
    }

    public TState CachedDerivative => _pendingSwap ? EndDerivative : _k[0];

    /// <summary>
    /// f at the end of the last accepted step. For FSAL tableaus that is the last stage, whose slot changes with every
    /// swap, so it is looked up here rather than kept in a field (a field captured at construction pointed at the
    /// start derivative after every other step, which made the Hermite output of BS3 wrong on those steps).
    /// </summary>
    private TState EndDerivative => _tableau.IsFsal ? _k[^1] : _f1;

    public void Resume(double t, TState y, TState derivative, long evaluations)
    {
        _algebra.Copy(derivative, _k[0]);
        _pendingSwap = false;
        Evaluations = evaluations;
    }

    public void Derivative(double t, TState y, TState destination) => Rhs(t, y, destination);

    public double Attempt(double t, TState y, double h, TState yNew)
    {
        if (_pendingSwap)
        {
            // The accepted step's f1 becomes this step's first stage; swapping references copies nothing.
            int s = _k.Length;
            if (_tableau.IsFsal)
            {
                (_k[0], _k[s - 1]) = (_k[s - 1], _k[0]);
            }
            else
            {
                _algebra.Copy(_f1, _k[0]);
            }

            _pendingSwap = false;
        }

        ButcherTableau tab = _tableau;
        int stages = tab.Stages;
        int last = tab.IsFsal ? stages - 1 : stages;
        for (int i = 1; i < last; i++)
        {
            double[] row = tab.A[i];
            for (int j = 0; j < i; j++)
            {
                _coefficients[j] = h * row[j];
            }

            _algebra.Combine(y, _one, _coefficients.AsSpan(0, i), _k.AsSpan(0, i), false, _stageState);
            Rhs(t + (tab.C[i] * h), _stageState, _k[i]);
        }

        for (int j = 0; j < stages; j++)
        {
            _coefficients[j] = h * tab.B[j];
        }

        _algebra.Combine(y, _one, _coefficients.AsSpan(0, stages), _k, false, yNew);
        if (tab.IsFsal)
        {
            Rhs(t + h, yNew, _k[stages - 1]);
        }

        if (tab.ErrorWeights is null)
        {
            return _algebra.AllFinite(yNew) ? 0.0 : double.NaN;
        }

        for (int j = 0; j < stages; j++)
        {
            _coefficients[j] = h * tab.ErrorWeights[j];
        }

        _coefficients[stages] = 0;
        _algebra.Combine(y, [0.0], _coefficients.AsSpan(0, stages), _k, false, _error);
        double e5 = _norm.Measure(y, yNew, _error);
        double[]? w3 = _method.ThirdOrderErrorWeights;
        if (w3 is null || _error3 is null)
        {
            return e5;
        }

        for (int j = 0; j < stages; j++)
        {
            _coefficients[j] = h * w3[j];
        }

        _algebra.Combine(y, [0.0], _coefficients.AsSpan(0, stages), _k, false, _error3);
        double e3 = _norm.Measure(y, yNew, _error3);

        // Hairer's DOP853: the fifth-order estimate, damped by the third-order one where that is large
        // (Solving ODEs I, §II.10, "DOP853").
        double denominator = (e5 * e5) + (0.01 * e3 * e3);
        return denominator > 0 ? e5 * e5 / Math.Sqrt(denominator) : e5;
    }

    public void Accept(double t, double h, TState y, TState yNew)
    {
        if (!_tableau.IsFsal)
        {
            Rhs(t + h, yNew, _f1);
        }

        if (_stiffness is not null)
        {
            // Only accepted steps count. The attempt's last internal stage Y is still in _stageState, f(Y) in the stage
            // before the FSAL one, f(y1) in the last.
            int s = _k.Length;
            _algebra.Combine(_k[s - 1], _one, [-1.0], _k.AsSpan(s - 2, 1), false, _stiffness);
            double df = _algebra.ScaledSquareSum(yNew, yNew, _stiffness, _zeros, _ones);
            _algebra.Combine(yNew, _one, [-1.0], new ReadOnlySpan<TState>(in _stageState), false, _stiffness);
            double dy = _algebra.ScaledSquareSum(yNew, yNew, _stiffness, _zeros, _ones);
            StiffnessProduct = dy > 0 ? h * Math.Sqrt(df / dy) : 0.0;
        }

        _y0 = y;
        _y1 = yNew;
        _t0 = t;
        _h = h;
        _extrasReady = false;
        _pendingSwap = true;
    }

    public void Interpolate(double theta, TState destination)
    {
        TState y0 = _y0 ?? throw new InvalidOperationException("No accepted step to interpolate.");
        int s = _k.Length;
        if (_method.HasOwnDenseOutput)
        {
            for (int i = 0; i < s; i++)
            {
                _dense[i] = _k[i];
            }

            _dense[s] = EndDerivative;
            if (!_extrasReady)
            {
                ComputeExtraStages(y0);
            }

            int total = _dense.Length;
            _method.DenseWeights(theta, _coefficients);
            for (int i = 0; i < total; i++)
            {
                _coefficients[i] *= _h;
            }

            _algebra.Combine(y0, _one, _coefficients.AsSpan(0, total), _dense, false, destination);
            return;
        }

        // Cubic Hermite (Hairer §II.6, eq. 6.7) in the basis y0, y1, h f0, h f1.
        double th2 = theta * theta;
        double th3 = th2 * theta;
        double h00 = (2 * th3) - (3 * th2) + 1;
        double h01 = (-2 * th3) + (3 * th2);
        double h10 = th3 - (2 * th2) + theta;
        double h11 = th3 - th2;
        _hermite[0] = _y1!;
        _hermite[1] = _k[0];
        _hermite[2] = EndDerivative;
        _coefficients[0] = h01;
        _coefficients[1] = _h * h10;
        _coefficients[2] = _h * h11;
        _algebra.Combine(y0, [h00], _coefficients.AsSpan(0, 3), _hermite, false, destination);
    }

    /// <summary>The extra stages of the continuous extension (DOP853: Hairer §II.10, three more evaluations).</summary>
    private void ComputeExtraStages(TState y0)
    {
        double[][] rows = _method.DenseExtraRows;
        double[] nodes = _method.DenseExtraNodes;
        for (int r = 0; r < rows.Length; r++)
        {
            int length = rows[r].Length;
            for (int j = 0; j < length; j++)
            {
                _coefficients[j] = _h * rows[r][j];
            }

            _algebra.Combine(y0, _one, _coefficients.AsSpan(0, length), _dense.AsSpan(0, length), false, _stageState);
            Rhs(_t0 + (nodes[r] * _h), _stageState, _dense[length]);
        }

        _extrasReady = true;
    }

    private void Rhs(double t, TState y, TState destination)
    {
        Evaluations++;
        if (!_semilinear)
        {
            _term.Evaluate(t, y, destination);
            return;
        }

        // f = N − c_b y: the explicit method sees the whole right-hand side.
        _term.Evaluate(t, y, _nonlinear!);
        _algebra.Combine(y, _negDecay, _ones, _nonlinearStage, true, destination);
    }
}
