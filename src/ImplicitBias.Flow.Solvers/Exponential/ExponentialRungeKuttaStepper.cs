using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Controllers;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Solvers.Exponential;

/// <summary>The per-solve cache of an <see cref="ExponentialRungeKuttaMethod"/>.</summary>
internal sealed class ExponentialRungeKuttaStepper<TState> : IStepper<TState>
    where TState : class
{
    private readonly ExponentialRungeKuttaMethod _method;
    private readonly IStateAlgebra<TState> _algebra;
    private readonly ScaledErrorNorm<TState> _norm;
    private readonly IOdeTerm<TState> _term;
    private readonly TState[] _k;
    private readonly TState _stageState;
    private readonly TState _error;
    private TState _next;
    private readonly double[] _decay;
    private readonly double[] _scale;
    private readonly double[] _rows;
    private readonly double[] _weights;
    private readonly double[] _embedded;
    private readonly int _blocks;
    private readonly TState[] _history;
    private readonly double[] _historyEmbedded;
    private TState _previous;
    private bool _pendingSwap;
    private bool _hasPrevious;
    private double _hPrevious;
    private TState? _y0;
    private double _h;

    public ExponentialRungeKuttaStepper(ExponentialRungeKuttaMethod method, IStateAlgebra<TState> algebra, IOdeTerm<TState> term, ScaledErrorNorm<TState> norm)
    {
        _method = method;
        _algebra = algebra;
        _norm = norm;
        _term = term;
        int s = method.Stages;
        _k = new TState[s];
        for (int i = 0; i < s; i++)
        {
            _k[i] = algebra.Allocate();
        }

        _stageState = algebra.Allocate();
        _error = algebra.Allocate();
        _next = algebra.Allocate();
        _decay = algebra.Layout.Blocks.Select(b => b.DecayRate).ToArray();
        _blocks = _decay.Length;
        _scale = new double[_blocks];
        _rows = new double[_blocks * (s + 1)];
        _weights = new double[s];
        _embedded = new double[s];

        // The history estimate's stages: [N at the previous step's start, N_1 … N_s].
        _previous = method.HasHistoryEstimate ? algebra.Allocate() : _k[0];
        _history = new TState[s + 1];
        _historyEmbedded = new double[s + 1];
    }

    public long Evaluations { get; private set; }

    public TState FirstStage => _k[0];

    public void Start(double t, TState y)
    {
        Rhs(t, y, _k[0]);
        _pendingSwap = false;
        _hasPrevious = false;
    }

    public TState CachedDerivative => _pendingSwap ? _next : _k[0];

    public void Resume(double t, TState y, TState derivative, long evaluations)
    {
        _algebra.Copy(derivative, _k[0]);
        _pendingSwap = false;
        _hasPrevious = false;
        Evaluations = evaluations;
    }

    /// <summary>[h of the previous step, N at its start] for a method with a history estimate once it has one.</summary>
    public double[] Memory
    {
        get
        {
            if (!_method.HasHistoryEstimate || !(_pendingSwap || _hasPrevious))
            {
                return [];
            }

            // Between an accepted step and the next attempt the rotation is still pending: the accepted step's first
            // stage is the history.
            int n = _algebra.Layout.Length;
            var memory = new double[1 + n];
            memory[0] = _pendingSwap ? _h : _hPrevious;
            _algebra.Read(_pendingSwap ? _k[0] : _previous, memory.AsSpan(1, n));
            return memory;
        }
    }

    public void RestoreMemory(double[] memory)
    {
        int n = _algebra.Layout.Length;
        if (!_method.HasHistoryEstimate || memory.Length != 1 + n)
        {
            return; // no history yet (or a checkpoint of another stepper): the next step uses the stages alone
        }

        _hPrevious = memory[0];
        _algebra.Write(memory.AsSpan(1, n), _previous);
        _hasPrevious = true;
    }

    public void Derivative(double t, TState y, TState destination) => Rhs(t, y, destination);

    public double Attempt(double t, TState y, double h, TState yNew)
    {
        if (_pendingSwap)
        {
            if (_method.HasHistoryEstimate)
            {
                // The accepted step's first stage becomes the history; its buffer is reused for the next N.
                (_previous, _k[0], _next) = (_k[0], _next, _previous);
                _hPrevious = _h;
                _hasPrevious = true;
            }
            else
            {
                (_k[0], _next) = (_next, _k[0]);
            }

            _pendingSwap = false;
        }

        int s = _method.Stages;
        IReadOnlyList<double> c = _method.Nodes;
        for (int i = 1; i < s; i++)
        {
            DecayCoefficients.Stage(_method, _decay, i, h, _scale, _rows);
            _algebra.Combine(y, _scale, _rows.AsSpan(0, _blocks * i), _k.AsSpan(0, i), true, _stageState);
            Rhs(t + (c[i] * h), _stageState, _k[i]);
        }

        DecayCoefficients.Weights(_method, _decay, 1.0, h, false, _scale, _rows, _weights, _embedded);
        _algebra.Combine(y, _scale, _rows.AsSpan(0, _blocks * s), _k, true, yNew);
        if (!_method.IsAdaptive)
        {
            return _algebra.AllFinite(yNew) ? 0.0 : double.NaN;
        }

        if (_method.HasHistoryEstimate && _hasPrevious)
        {
            return HistoryError(y, h, yNew);
        }

        DecayCoefficients.Weights(_method, _decay, 1.0, h, true, _scale, _rows, _weights, _embedded);
        _algebra.Combine(y, _scale, _rows.AsSpan(0, _blocks * s), _k, true, _error);
        return _norm.Measure(y, yNew, _error);
    }

    /// <summary>The error estimate h Σ (b − b̂) N with the embedded rule that also uses N at t − r h.</summary>
    private double HistoryError(TState y, double h, TState yNew)
    {
        int s = _method.Stages;
        double r = _hPrevious / h;
        _history[0] = _previous;
        for (int i = 0; i < s; i++)
        {
            _history[i + 1] = _k[i];
        }

        DecayCoefficients.HistoryError(_method, _decay, r, h, _scale, _rows, _weights, _historyEmbedded);
        _algebra.Combine(y, _scale, _rows.AsSpan(0, _blocks * (s + 1)), _history, true, _error);
        return _norm.Measure(y, yNew, _error);
    }

    public void Accept(double t, double h, TState y, TState yNew)
    {
        // N at the new point is the next step's first stage.
        Rhs(t + h, yNew, _next);
        _y0 = y;
        _h = h;
        _pendingSwap = true;
    }

    public void Interpolate(double theta, TState destination)
    {
        TState y0 = _y0 ?? throw new InvalidOperationException("No accepted step to interpolate.");
        int s = _method.Stages;
        DecayCoefficients.Weights(_method, _decay, theta, _h, false, _scale, _rows, _weights, _embedded);
        _algebra.Combine(y0, _scale, _rows.AsSpan(0, _blocks * s), _k, true, destination);
    }

    private void Rhs(double t, TState y, TState destination)
    {
        Evaluations++;
        _term.Evaluate(t, y, destination);
    }
}
