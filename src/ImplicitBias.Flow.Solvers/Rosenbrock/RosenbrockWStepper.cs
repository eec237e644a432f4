using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Controllers;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Solvers.Rosenbrock;

/// <summary>
/// The per-solve work of a <see cref="RosenbrockWMethod"/>, in the transformed variables u_i = Σ_j γ_ij k_j that
/// need no products with W (Hairer &amp; Wanner II, Eq. IV.7.25): (I − hγW) u_i = hγ (f(t + α_i h, y0 + Σ_j a_ij u_j)
/// + γ_i h g + Σ_j (c_ij / h) u_j), γ_i = Σ_{j≤i} γ_ij, g ≈ ∂f/∂t (the time column of W for the autonomous form), y1 = y0 + Σ m_i u_i, with a = αΓ⁻¹, c = −Γ⁻¹ off the diagonal, m = bᵀΓ⁻¹. The dense output
/// is the cubic Hermite interpolant of y0, y1, f0, f1 in blocks whose decay is resolved (h c_b ≤ 1), and linear in
/// stiffly decaying blocks, where the endpoint derivatives would make a cubic overshoot.
/// </summary>
internal sealed class RosenbrockWStepper<TState> : IStepper<TState>
    where TState : class
{
    private readonly RosenbrockWMethod _method;
    private readonly IStateAlgebra<TState> _algebra;
    private readonly ScaledErrorNorm<TState> _norm;
    private readonly IOdeTerm<TState> _term;
    private readonly KrylovW<TState> _w;
    private readonly ITimeDerivativeTerm<TState>? _timeDerivative;
    private readonly int _s;
    private readonly int _blocks;
    private readonly double[] _decay;
    private readonly double[,] _a;
    private readonly double[,] _c;
    private readonly double[] _m;
    private readonly double[] _e;
    private readonly double[] _nodes;
    private readonly double[] _gammaSums;
    private readonly TState[] _u;
    private readonly TState _stage;
    private readonly TState _stageN;
    private readonly TState _r;
    private readonly TState _error;
    private readonly TState[] _interpolationStages = new TState[3];
    private readonly TState[] _terms;
    private readonly double[] _scale;
    private readonly double[] _rows;
    private TState _n0;
    private TState _next;
    private bool _pendingSwap;
    private bool _builtHere;
    private bool _attemptedHere;
    private double _resumeTime;
    private TState? _resumeState;
    private int _stepsSinceBuild;
    private readonly double[] _pendingError;
    private bool _hasPendingError; // the last attempt's error, for an extension if it is retried: in _error ...
    private bool _pendingOnHost; // ... or, after a resume, in _pendingError
    private readonly TState? _secantStep; // y1 − y0 of an accepted step, and the change of N along it, for W's update
    private readonly TState? _secantChange;
    private readonly TState? _secantTime; // ∂N/∂t at the step's end, for the trapezoidal rule
    private readonly int _refreshEvery;
    private readonly TState[] _secantTerms = new TState[1];
    private TState? _y0;
    private TState? _y1;
    private double _h;

    public RosenbrockWStepper(RosenbrockWMethod method, IStateAlgebra<TState> algebra, IOdeTerm<TState> term, ScaledErrorNorm<TState> norm)
    {
        _method = method;
        _algebra = algebra;
        _norm = norm;
        _term = term;
        _s = method.Stages;
        _timeDerivative = term is ITimeDerivativeTerm<TState> { HasTimeDerivative: true } known ? known : null;
        // Secant updates need ∂N/∂t at both ends of a step (the trapezoidal rule, KrylovW.Update): only a term that
        // knows it in closed form gives it for free; without them W is rebuilt as often as before they existed.
        bool secants = method.SecantUpdates && method.KrylovDimension > 0 && _timeDerivative is not null;
        _refreshEvery = secants ? method.RefreshEvery : Math.Min(method.RefreshEvery, RosenbrockWMethod.RefreshEveryWithoutSecants);
        _w = new KrylovW<TState>(algebra, norm.Tolerances, method.KrylovDimension, method.ExtendAfterRejection > 0 ? method.ExtensionCapacity : 0, secants, term as IJacobianModelTerm, method.ModelResidualDimension, term as ICoordinateScaleTerm);
        if (secants)
        {
            _secantStep = algebra.Allocate();
            _secantChange = algebra.Allocate();
            _secantTime = algebra.Allocate();
        }

        _pendingError = method.ExtendAfterRejection > 0 ? new double[algebra.Layout.Length] : [];
        _decay = algebra.Layout.Blocks.Select(b => b.DecayRate).ToArray();
        _blocks = _decay.Length;

        // Γ⁻¹ of the lower-triangular Γ by forward substitution.
        var gammaInverse = new double[_s, _s];
        for (int i = 0; i < _s; i++)
        {
            gammaInverse[i, i] = 1.0 / method.GammaMatrix[i, i];
            for (int j = 0; j < i; j++)
            {
                double sum = 0;
                for (int k = j; k < i; k++)
                {
                    sum += method.GammaMatrix[i, k] * gammaInverse[k, j];
                }

                gammaInverse[i, j] = -sum / method.GammaMatrix[i, i];
            }
        }

        _a = new double[_s, _s];
        _c = new double[_s, _s];
        _m = new double[_s];
        _e = new double[_s];
        _nodes = new double[_s];
        for (int i = 0; i < _s; i++)
        {
            for (int j = 0; j < _s; j++)
            {
                double sum = 0;
                for (int k = 0; k < _s; k++)
                {
                    sum += method.Alpha[i, k] * gammaInverse[k, j];
                }

                _a[i, j] = sum;
                _c[i, j] = i > j ? -gammaInverse[i, j] : 0.0;
                _m[j] += method.Weights[i] * gammaInverse[i, j];
                _e[j] += (method.Weights[i] - method.EmbeddedWeights[i]) * gammaInverse[i, j];
                _nodes[i] += method.Alpha[i, j];
            }
        }

        _u = new TState[_s];
        for (int i = 0; i < _s; i++)
        {
            _u[i] = algebra.Allocate();
        }

        _terms = new TState[_s + 1];
        _stage = algebra.Allocate();
        _stageN = algebra.Allocate();
        _r = algebra.Allocate();
        _error = algebra.Allocate();
        _n0 = algebra.Allocate();
        _next = algebra.Allocate();
        _scale = new double[_blocks];
        _rows = new double[_blocks * (_s + 1)];
        _gammaSums = Enumerable.Range(0, _s).Select(i => Enumerable.Range(0, i + 1).Sum(j => method.GammaMatrix[i, j])).ToArray();
    }

    private const int Header = 6;

    public long Evaluations { get; private set; }

    public TState FirstStage => _n0;

    public TState CachedDerivative => _pendingSwap ? _next : _n0;

    public void Start(double t, TState y)
    {
        Rhs(t, y, _n0);
        _pendingSwap = false;
        _builtHere = false;
        _attemptedHere = false;
        _hasPendingError = false;
        _pendingOnHost = false;
        _stepsSinceBuild = int.MaxValue / 2;
    }

    public void Resume(double t, TState y, TState derivative, long evaluations)
    {
        _resumeTime = t;
        _resumeState = y;
        _algebra.Copy(derivative, _n0);
        _pendingSwap = false;
        _builtHere = false;
        _attemptedHere = false;
        _hasPendingError = false;
        _pendingOnHost = false;
        _stepsSinceBuild = int.MaxValue / 2;
        Evaluations = evaluations;
    }

    /// <summary>
    /// [t_W, steps since W was built, built here, attempted here, number E of extensions, pending error?, y at t_W,
    /// N there, E × (vectors asked, direction), the last attempt's error if pending, and with secant updates W's
    /// dimension m and its matrix H (m × m, row by row)] when W exists: all a rebuild of the same W needs.
    /// </summary>
    public double[] Memory
    {
        get
        {
            if (double.IsNaN(_w.BuiltAt))
            {
                return [];
            }

            int n = _algebra.Layout.Length;
            IReadOnlyList<(int Count, double[] Direction)> extensions = _w.Extensions;
            bool pending = _hasPendingError && _attemptedHere;
            double[] matrix = _secantStep is null ? [] : _w.Matrix();
            int trailer = _secantStep is null ? 0 : 1 + matrix.Length;
            var memory = new double[Header + (2 * n) + (extensions.Count * (n + 1)) + (pending ? n : 0) + trailer];
            memory[0] = _w.BuiltAt;
            memory[1] = _stepsSinceBuild;
            memory[2] = _builtHere ? 1 : 0;
            memory[3] = _attemptedHere ? 1 : 0;
            memory[4] = extensions.Count;
            memory[5] = pending ? 1 : 0;
            _w.BuiltState.CopyTo(memory.AsSpan(Header, n));
            _w.BuiltDerivative.CopyTo(memory.AsSpan(Header + n, n));
            int at = Header + (2 * n);
            foreach ((int count, double[] direction) in extensions)
            {
                memory[at] = count;
                direction.CopyTo(memory.AsSpan(at + 1, n));
                at += n + 1;
            }

            if (pending)
            {
                if (!_pendingOnHost)
                {
                    _algebra.Read(_error, _pendingError);
                }

                _pendingError.CopyTo(memory.AsSpan(at, n));
                at += n;
            }

            if (trailer > 0)
            {
                memory[at] = _w.Dimension;
                matrix.CopyTo(memory.AsSpan(at + 1));
            }

            return memory;
        }
    }

    public void RestoreMemory(double[] memory)
    {
        int n = _algebra.Layout.Length;
        bool legacy = memory.Length == 4 + (2 * n); // written before W could be extended
        int header = legacy ? 4 : Header;
        int core = legacy || memory.Length < header + (2 * n) ? 0 : header + (2 * n) + ((int)memory[4] * (n + 1)) + (memory[5] != 0 ? n : 0);
        bool hasMatrix = !legacy && core > 0 && memory.Length > core && memory.Length == core + 1 + ((int)memory[core] * (int)memory[core]);
        if (memory.Length < header + (2 * n) || (!legacy && memory.Length != core && !hasMatrix))
        {
            return; // no W yet (or a checkpoint of another stepper): the next attempt builds one
        }

        // Rebuilding W from the same point repeats the same arithmetic, so the continuation is bit for bit; the
        // evaluations it costs were counted when W was first built (and extended).
        _algebra.Write(memory.AsSpan(header, n), _stage);
        _algebra.Write(memory.AsSpan(header + n, n), _stageN);
        _w.Build(memory[0], _stage, _stageN, _term.Evaluate);
        _stepsSinceBuild = (int)memory[1];
        _builtHere = memory[2] != 0;
        _attemptedHere = memory[3] != 0;
        if (!legacy)
        {
            int at = header + (2 * n);
            for (int e = 0; e < (int)memory[4]; e++)
            {
                _w.Extend(memory.AsSpan(at + 1, n), (int)memory[at], _term.Evaluate);
                at += n + 1;
            }

            _hasPendingError = memory[5] != 0 && _pendingError.Length == n;
            _pendingOnHost = _hasPendingError;
            if (_hasPendingError)
            {
                memory.AsSpan(at, n).CopyTo(_pendingError);
            }

            if (hasMatrix && _secantStep is not null)
            {
                // The secant updates since the build changed H only: the rebuilt space takes the saved matrix back.
                _w.RestoreMatrix(memory.AsSpan(core + 1));
            }
        }

        if (_attemptedHere && _resumeState is not null)
        {
            // A step from this point was rejected before the checkpoint: its g is recomputed (the same arithmetic).
            _w.UpdateTimeDerivative(_resumeTime, _resumeState, _n0, _term.Evaluate, _timeDerivative);
        }
    }

    public void Derivative(double t, TState y, TState destination) => Rhs(t, y, destination);

    public double Attempt(double t, TState y, double h, TState yNew)
    {
        if (_pendingSwap)
        {
            (_n0, _next) = (_next, _n0);
            _pendingSwap = false;
        }

        // Rebuild W at the first step, every RefreshEvery accepted steps, and (if asked) when a step from this point was
        // rejected.
        bool retry = _attemptedHere;
        _attemptedHere = true;
        if (!_builtHere && ((retry && _method.RebuildAfterRejection) || _stepsSinceBuild >= _refreshEvery))
        {
            Evaluations += _w.Build(t, y, _n0, _term.Evaluate);
            _builtHere = true;
            _stepsSinceBuild = 0;
        }
        else if (retry && _hasPendingError)
        {
            // The rejected attempt's error is what W left unstabilized: a few Krylov vectors from it (read to the host
            // only now, so accepted steps never pay for the copy).
            if (!_pendingOnHost)
            {
                _algebra.Read(_error, _pendingError);
            }

            Evaluations += _w.Extend(_pendingError, _method.ExtendAfterRejection, _term.Evaluate);
        }

        _hasPendingError = false;
        _pendingOnHost = false;

        if (!retry)
        {
            Evaluations += _w.UpdateTimeDerivative(t, y, _n0, _term.Evaluate, _timeDerivative);
        }

        double hGamma = h * _method.Gamma;
        _w.Factor(hGamma);
        for (int i = 0; i < _s; i++)
        {
            // Y_i = y0 + Σ_j a_ij u_j and N there (stage 1: y0 and the cached N).
            TState stageY = y;
            TState stageN = _n0;
            if (i > 0)
            {
                Span<double> row = _rows.AsSpan(0, i);
                for (int j = 0; j < i; j++)
                {
                    row[j] = _a[i, j];
                }

                _algebra.Combine(y, [1.0], row, _u.AsSpan(0, i), false, _stage);
                Rhs(t + (_nodes[i] * h), _stage, _stageN);
                stageY = _stage;
                stageN = _stageN;
            }

            // r = f(Y_i) + γ_i h ∂f/∂t + Σ_j (c_ij / h) u_j, f = N − C Y, block by block.
            int width = i + 2;
            for (int b = 0; b < _blocks; b++)
            {
                _scale[b] = -_decay[b];
                _rows[b * width] = 1.0;
                _rows[(b * width) + 1] = _gammaSums[i] * h;
                for (int j = 0; j < i; j++)
                {
                    _rows[(b * width) + 2 + j] = _c[i, j] / h;
                }
            }

            _terms[0] = stageN;
            _terms[1] = _w.TimeDerivative;
            for (int j = 0; j < i; j++)
            {
                _terms[j + 2] = _u[j];
            }

            _algebra.Combine(stageY, _scale, _rows.AsSpan(0, _blocks * width), _terms.AsSpan(0, width), true, _r);
            _w.Solve(_r, hGamma, _u[i]);
        }

        _algebra.Combine(y, [1.0], _m, _u, false, yNew);
        // The embedded estimate filtered by (I − hγW)⁻¹, as Shampine's filter for stiff problems (Hairer & Wanner II,
        // §IV.8, Eq. 8.20): the embedded method is not L-stable (|R̂(∞)| ≈ 0.48), so the raw difference overstates the
        // error of stiff components that the propagated solution damps.
        _algebra.Combine(y, [0.0], _e, _u, false, _r);
        _w.Solve(_r, 1.0, _error);
        _hasPendingError = _pendingError.Length > 0;

        return _norm.Measure(y, yNew, _error);
    }

    public void Accept(double t, double h, TState y, TState yNew)
    {
        Rhs(t + h, yNew, _next);
        if (_secantStep is not null && _secantChange is not null && _secantTime is not null && _timeDerivative is not null)
        {
            // The step's secant pair renews W's matrix along the path (KrylovW.Update): s = y1 − y0 and
            // q = ΔN − (h/2)(g0 + g1), ΔN = N(t + h, y1) − N(t, y0), the time dependence taken out by the trapezoidal rule
            // with the closed-form ∂N/∂t at both ends (g0 is the time column this step used; N(y0) is still in _n0). The
            // one-sided h g0 would leave (h²/2) ∂²N/∂t² in q, which on a stiffly forced problem is not small beside
            // (∂N/∂y) s (measured: y' = −1e4 (y − cos t) then ends 5e-4 off).
            _algebra.Combine(yNew, [1.0], [-1.0], new ReadOnlySpan<TState>(ref y), false, _secantStep);
            _algebra.Combine(_next, [1.0], [-1.0], new ReadOnlySpan<TState>(ref _n0), false, _secantChange);
            _timeDerivative.TimeDerivative(t + h, yNew, _next, _secantTime);
            _secantTerms[0] = _w.TimeDerivative;
            _algebra.Combine(_secantTime, [0.5 * h], [0.5 * h], _secantTerms.AsSpan(0, 1), false, _secantTime);
            _w.Update(_secantStep, _secantChange, _secantTime, h * _method.Gamma);
        }

        _y0 = y;
        _y1 = yNew;
        _h = h;
        _pendingSwap = true;
        _builtHere = false;
        _attemptedHere = false;
        _stepsSinceBuild++;
    }

    public void Interpolate(double theta, TState destination)
    {
        TState y0 = _y0 ?? throw new InvalidOperationException("No accepted step to interpolate.");
        TState y1 = _y1!;
        TState n0 = _n0; // Accept left N(y0) here and N(y1) in _next until the next attempt swaps them
        TState n1 = _next;
        double q = theta * (theta - 1);
        for (int b = 0; b < _blocks; b++)
        {
            double hc = _h * _decay[b];
            Span<double> row = _rows.AsSpan(b * 3, 3);
            if (hc > 1)
            {
                _scale[b] = 1 - theta;
                row[0] = theta;
                row[1] = 0;
                row[2] = 0;
                continue;
            }

            // p(θ) = y0 + θ Δ + q [(1 − 2θ) Δ + (θ − 1) h f0 + θ h f1], Δ = y1 − y0, f = N − c y.
            double onDelta = theta + (q * (1 - (2 * theta)));
            double onF0 = q * (theta - 1) * _h;
            double onF1 = q * theta * _h;
            _scale[b] = 1 - onDelta - (onF0 * _decay[b]);
            row[0] = onDelta - (onF1 * _decay[b]);
            row[1] = onF0;
            row[2] = onF1;
        }

        _interpolationStages[0] = y1;
        _interpolationStages[1] = n0;
        _interpolationStages[2] = n1;
        _algebra.Combine(y0, _scale, _rows.AsSpan(0, _blocks * 3), _interpolationStages, true, destination);
    }

    private void Rhs(double t, TState y, TState destination)
    {
        Evaluations++;
        _term.Evaluate(t, y, destination);
    }
}
