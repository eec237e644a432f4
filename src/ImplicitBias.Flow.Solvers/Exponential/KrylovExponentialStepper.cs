using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Controllers;
using ImplicitBias.Flow.Solvers.Krylov;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Solvers.Exponential;

/// <summary>
/// The per-solve cache of <see cref="CoxMatthews4Krylov"/>: ETDRK4 for y' = A y + Ñ(t, y) with A = −C + B S Bᵀ Ω²
/// (<see cref="KrylovLinearPart{TState}"/>) and Ñ = N − B S Bᵀ Ω² y.
/// </summary>
/// <remarks>
/// Every combination e^{c z} y0 + h Σ a_j(Z) Ñ_j is computed as the decay-only formula of the scalar method on the whole
/// vectors (N_j, not Ñ_j) plus a correction inside span B: with u_j = Bᵀ Ω² Y_j, p_j = Bᵀ Ω² N_j and q_j = S u_j (so that
/// Bᵀ Ω² Ñ_j = p_j − q_j and Ñ_j − N_j = −B q_j),
/// B [ (e^{c Z_r} − e^{c z_b}) u0 + Σ_j h (a_j(Z_r) (p_j − q_j) − a_j(z_b) p_j) ], Z_r = h A_r, z_b the decay of each
/// basis vector's block. The projections run on host copies; the combinations go through the algebra.
/// </remarks>
internal sealed class KrylovExponentialStepper<TState> : IStepper<TState>
    where TState : class
{
    private const int S = 4;
    private readonly CoxMatthews4Krylov _method;
    private readonly IStateAlgebra<TState> _algebra;
    private readonly ScaledErrorNorm<TState> _norm;
    private readonly IOdeTerm<TState> _term;
    private readonly KrylovLinearPart<TState> _linear;
    private readonly TState[] _k = new TState[S];
    private readonly TState _stageState;
    private readonly TState _error;
    private TState _next;
    private readonly double[] _decay;
    private readonly int _blocks;
    private readonly double[] _scale;
    private readonly double[] _rows;
    private readonly double[] _weights = new double[S];
    private readonly double[] _embedded = new double[S];

    // The linear part's reduced quantities, sized at each build (r = its dimension).
    private int _r;
    private double[] _z = [];
    private MatrixPhi _halfFunctions = new(0, 2);
    private MatrixPhi _fullFunctions = new(0, 4);
    private double[][] _halfPhi = [];
    private double[][] _fullPhi = [];
    private double[][] _stageRow = [];
    private double[] _stageScale = [];
    private double[][] _w = [];
    private double[][] _wHat = [];
    private double[][] _u = [];
    private double[][] _p = [];
    private double[][] _q = [];
    private double[] _c = [];
    private double[] _diff = [];

    private readonly TState _previousY;
    private readonly TState _previousN;
    private readonly double[] _historyRows;
    private readonly double[] _historyWeights = new double[S + 1];
    private readonly TState[] _historyStages = new TState[S + 1];
    private bool _hasPrevious;
    private double _hPrevious;
    private double[][] _historyHat = [];
    private double[] _uPrevious = [];
    private double[] _pPrevious = [];
    private double[] _qPrevious = [];
    private bool _pendingSwap;
    private bool _builtHere;
    private int _stepsSinceBuild;
    private TState? _y0;
    private double _h;

    public KrylovExponentialStepper(CoxMatthews4Krylov method, IStateAlgebra<TState> algebra, IOdeTerm<TState> term, ScaledErrorNorm<TState> norm)
    {
        _method = method;
        _algebra = algebra;
        _norm = norm;
        _term = term;
        _linear = new KrylovLinearPart<TState>(algebra, norm.Tolerances, method.ArnoldiSteps, method.Modes);
        for (int i = 0; i < S; i++)
        {
            _k[i] = algebra.Allocate();
        }

        _stageState = algebra.Allocate();
        _error = algebra.Allocate();
        _next = algebra.Allocate();
        _decay = algebra.Layout.Blocks.Select(b => b.DecayRate).ToArray();
        _blocks = _decay.Length;
        _scale = new double[_blocks];
        _rows = new double[_blocks * S];
        _historyRows = new double[_blocks * (S + 1)];
        _previousY = algebra.Allocate();
        _previousN = algebra.Allocate();
        _stepsSinceBuild = int.MaxValue / 2;
    }

    public long Evaluations { get; private set; }

    public TState FirstStage => _k[0];

    public TState CachedDerivative => _pendingSwap ? _next : _k[0];

    public void Start(double t, TState y)
    {
        Rhs(t, y, _k[0]);
        _hasPrevious = false;
        _pendingSwap = false;
        _builtHere = false;
        _stepsSinceBuild = int.MaxValue / 2;
    }

    public void Resume(double t, TState y, TState derivative, long evaluations)
    {
        _algebra.Copy(derivative, _k[0]);
        _hasPrevious = false;
        _pendingSwap = false;
        _builtHere = false;
        _stepsSinceBuild = int.MaxValue / 2;
        Evaluations = evaluations;
    }

    /// <summary>
    /// [t of the last build (NaN: none), steps since, built at this point, has a previous step, its h; y and N at the
    /// build; y and N at the previous step's start], empty before the first build and the first accepted step.
    /// </summary>
    public double[] Memory
    {
        get
        {
            if (double.IsNaN(_linear.BuiltAt) && !_hasPrevious)
            {
                return [];
            }

            int n = _algebra.Layout.Length;
            var memory = new double[5 + (4 * n)];
            memory[0] = _linear.BuiltAt;
            memory[1] = _stepsSinceBuild;
            memory[2] = _builtHere ? 1 : 0;
            memory[3] = _hasPrevious ? 1 : 0;
            memory[4] = _hPrevious;
            _linear.BuiltState.CopyTo(memory.AsSpan(5, n));
            _linear.BuiltDerivative.CopyTo(memory.AsSpan(5 + n, n));
            if (_hasPrevious)
            {
                _algebra.Read(_previousY, memory.AsSpan(5 + (2 * n), n));
                _algebra.Read(_previousN, memory.AsSpan(5 + (3 * n), n));
            }

            return memory;
        }
    }

    public void RestoreMemory(double[] memory)
    {
        int n = _algebra.Layout.Length;
        if (memory.Length != 5 + (4 * n))
        {
            return; // nothing built yet (or a checkpoint of another stepper): the next attempt builds
        }

        if (!double.IsNaN(memory[0]))
        {
            // The same build from the same point repeats the same arithmetic, so the continuation is bit for bit; its
            // evaluations were counted when it was first made.
            _algebra.Write(memory.AsSpan(5, n), _stageState);
            _algebra.Write(memory.AsSpan(5 + n, n), _error);
            _linear.Build(memory[0], _stageState, _error, _term.Evaluate);
            Resize();
            _stepsSinceBuild = (int)memory[1];
            _builtHere = memory[2] != 0;
        }

        if (memory[3] != 0)
        {
            _hasPrevious = true;
            _hPrevious = memory[4];
            _algebra.Write(memory.AsSpan(5 + (2 * n), n), _previousY);
            _algebra.Write(memory.AsSpan(5 + (3 * n), n), _previousN);
        }
    }

    public void Derivative(double t, TState y, TState destination) => Rhs(t, y, destination);

    public double Attempt(double t, TState y, double h, TState yNew)
    {
        if (_pendingSwap)
        {
            (_k[0], _next) = (_next, _k[0]);
            _pendingSwap = false;
        }

        if (!_builtHere && _stepsSinceBuild >= _method.RefreshEvery)
        {
            Evaluations += _linear.Build(t, y, _k[0], _term.Evaluate);
            Resize();
            _builtHere = true;
            _stepsSinceBuild = 0;
        }

        IReadOnlyList<double> c = _method.Nodes;
        if (_r > 0)
        {
            for (int i = 0; i < _z.Length; i++)
            {
                _z[i] = 0.5 * h * _linear.Reduced[i];
            }

            _halfFunctions.Evaluate(_z, _halfPhi);
            for (int i = 0; i < _z.Length; i++)
            {
                _z[i] = h * _linear.Reduced[i];
            }

            _fullFunctions.Evaluate(_z, _fullPhi);
            CoxMatthews4Krylov.MatrixWeights(_fullPhi, _w, _wHat);
            _linear.Project(y, _u[0]);
            Reduce(0);
        }

        for (int i = 1; i < S; i++)
        {
            DecayCoefficients.Stage(_method, _decay, i, h, _scale, _rows);
            _algebra.Combine(y, _scale, _rows.AsSpan(0, _blocks * i), _k.AsSpan(0, i), true, _stageState);
            if (_r > 0)
            {
                CoxMatthews4Krylov.MatrixStageCoefficients(i, _halfPhi[0], _halfPhi[1], _fullPhi[0], _stageRow, _stageScale);
                Correct(_stageScale, true, _stageRow, i, h, _rows, i);
                _algebra.Combine(_stageState, [1.0], _c, _linear.BasisStates, false, _stageState);
                _linear.Project(_stageState, _u[i]);
            }

            Rhs(t + (c[i] * h), _stageState, _k[i]);
            if (_r > 0)
            {
                Reduce(i);
            }
        }

        DecayCoefficients.Weights(_method, _decay, 1.0, h, false, _scale, _rows, _weights, _embedded);
        _algebra.Combine(y, _scale, _rows.AsSpan(0, _blocks * S), _k, true, yNew);
        if (_r > 0)
        {
            Correct(_fullPhi[0], true, _w, S, h, _rows, S);
            _algebra.Combine(yNew, [1.0], _c, _linear.BasisStates, false, yNew);
        }

        DecayCoefficients.Weights(_method, _decay, 1.0, h, true, _scale, _rows, _weights, _embedded);
        if (_hasPrevious)
        {
            return HistoryError(y, h, yNew);
        }

        _algebra.Combine(y, _scale, _rows.AsSpan(0, _blocks * S), _k, true, _error);
        if (_r > 0)
        {
            for (int j = 0; j < S; j++)
            {
                for (int i = 0; i < _w[j].Length; i++)
                {
                    _stageRow[j][i] = _w[j][i] - _wHat[j][i];
                }
            }

            Correct(_stageScale, false, _stageRow, S, h, _rows, S);
            _algebra.Combine(_error, [1.0], _c, _linear.BasisStates, false, _error);
        }

        return _norm.Measure(y, yNew, _error);
    }

    public void Accept(double t, double h, TState y, TState yNew)
    {
        _algebra.Copy(y, _previousY);
        _algebra.Copy(_k[0], _previousN);
        _hPrevious = h;
        _hasPrevious = true;
        Rhs(t + h, yNew, _next);
        _y0 = y;
        _h = h;
        _pendingSwap = true;
        _builtHere = false;
        _stepsSinceBuild++;
    }

    public void Interpolate(double theta, TState destination)
    {
        TState y0 = _y0 ?? throw new InvalidOperationException("No accepted step to interpolate.");
        DecayCoefficients.Weights(_method, _decay, theta, _h, false, _scale, _rows, _weights, _embedded);
        _algebra.Combine(y0, _scale, _rows.AsSpan(0, _blocks * S), _k, true, destination);
        if (_r == 0)
        {
            return;
        }

        // θ^k φ_k(θZ) into the half-step buffers' places would clash with a retried step; the stage rows are free here.
        for (int i = 0; i < _z.Length; i++)
        {
            _z[i] = theta * _h * _linear.Reduced[i];
        }

        double[][] phi = _stageRow;
        _fullFunctions.Evaluate(_z, phi);
        for (int k = 1; k < S; k++)
        {
            double power = Math.Pow(theta, k);
            for (int i = 0; i < phi[k].Length; i++)
            {
                phi[k][i] *= power;
            }
        }

        // Weights into _wHat (free until the next attempt recomputes it), the exponential stays in phi[0].
        CoxMatthews4Krylov.MatrixWeights(phi, _wHat, null);
        Correct(phi[0], true, _wHat, S, _h, _rows, S);
        _algebra.Combine(destination, [1.0], _c, _linear.BasisStates, false, destination);
    }

    /// <summary>
    /// The error estimate h Σ (b − b̂) Ñ of <see cref="CoxMatthews4History"/>: the embedded rule also uses Ñ at the
    /// previous step's start t − r h (N and y kept from that step, projected on the current basis), O(h⁴).
    /// </summary>
    private double HistoryError(TState y, double h, TState yNew)
    {
        double ratio = _hPrevious / h;
        _historyStages[0] = _previousN;
        for (int i = 0; i < S; i++)
        {
            _historyStages[i + 1] = _k[i];
        }

        DecayCoefficients.HistoryError(_method, _decay, ratio, h, _scale, _historyRows, _weights, _historyWeights);
        _algebra.Combine(y, _scale, _historyRows, _historyStages, true, _error);
        if (_r > 0)
        {
            // ΔB_0 = −b̂_prev, ΔB_{j+1} = B_j − b̂_j over [Ñ_prev, Ñ_0 … Ñ_3].
            CoxMatthews4Krylov.MatrixHistoryEmbeddedWeights(ratio, _fullPhi, _historyHat);
            for (int i = 0; i < _historyHat[0].Length; i++)
            {
                _historyHat[0][i] = -_historyHat[0][i];
                for (int j = 0; j < S; j++)
                {
                    _historyHat[j + 1][i] = _w[j][i] - _historyHat[j + 1][i];
                }
            }

            _linear.Project(_previousY, _uPrevious);
            _linear.Project(_previousN, _pPrevious);
            Multiply(_linear.Coupling, _uPrevious, _qPrevious);
            Array.Clear(_c);
            ReadOnlySpan<int> blockOf = _linear.BlockOf;
            for (int j = 0; j <= S; j++)
            {
                double[] p = j == 0 ? _pPrevious : _p[j - 1];
                double[] q = j == 0 ? _qPrevious : _q[j - 1];
                for (int l = 0; l < _r; l++)
                {
                    _diff[l] = p[l] - q[l];
                }

                double[] a = _historyHat[j];
                for (int i = 0; i < _r; i++)
                {
                    double sum = 0;
                    for (int l = 0; l < _r; l++)
                    {
                        sum += a[(i * _r) + l] * _diff[l];
                    }

                    _c[i] += (h * sum) - (_historyRows[(blockOf[i] * (S + 1)) + j] * p[i]);
                }
            }

            _algebra.Combine(_error, [1.0], _c, _linear.BasisStates, false, _error);
        }

        return _norm.Measure(y, yNew, _error);
    }

    private void Multiply(double[] matrix, double[] x, double[] destination)
    {
        for (int i = 0; i < _r; i++)
        {
            double sum = 0;
            for (int l = 0; l < _r; l++)
            {
                sum += matrix[(i * _r) + l] * x[l];
            }

            destination[i] = sum;
        }
    }

    /// <summary>p_j = Bᵀ Ω² N_j and q_j = S u_j.</summary>
    private void Reduce(int j)
    {
        _linear.Project(_k[j], _p[j]);
        Multiply(_linear.Coupling, _u[j], _q[j]);
    }

    /// <summary>
    /// _c ← (E − e_b) u0 (when <paramref name="withY"/>) + Σ_{j &lt; count} h (A_j (p_j − q_j)) − a_j(z_b) p_j, the
    /// correction inside span B; <paramref name="rows"/> holds the decay-only coefficients h a_j(z_b) per block with
    /// row length <paramref name="rowLength"/>, and <see cref="_scale"/> the decay-only e^{c z_b}.
    /// </summary>
    private void Correct(double[] e, bool withY, double[][] a, int count, double h, double[] rows, int rowLength)
    {
        ReadOnlySpan<int> blockOf = _linear.BlockOf;
        Array.Clear(_c);
        if (withY)
        {
            for (int i = 0; i < _r; i++)
            {
                double sum = 0;
                for (int l = 0; l < _r; l++)
                {
                    sum += e[(i * _r) + l] * _u[0][l];
                }

                _c[i] = sum - (_scale[blockOf[i]] * _u[0][i]);
            }
        }

        for (int j = 0; j < count; j++)
        {
            for (int l = 0; l < _r; l++)
            {
                _diff[l] = _p[j][l] - _q[j][l];
            }

            double[] aj = a[j];
            for (int i = 0; i < _r; i++)
            {
                double sum = 0;
                for (int l = 0; l < _r; l++)
                {
                    sum += aj[(i * _r) + l] * _diff[l];
                }

                _c[i] += (h * sum) - (rows[(blockOf[i] * rowLength) + j] * _p[j][i]);
            }
        }
    }

    private void Resize()
    {
        int r = _linear.Dimension;
        if (r == _r && _c.Length == r)
        {
            return;
        }

        _r = r;
        int size = r * r;
        _z = new double[size];
        _halfFunctions = new MatrixPhi(r, 2);
        _fullFunctions = new MatrixPhi(r, 4);
        _halfPhi = [new double[size], new double[size]];
        _fullPhi = Matrices(S, size);
        _stageRow = Matrices(S, size);
        _stageScale = new double[size];
        _w = Matrices(S, size);
        _wHat = Matrices(S, size);
        _u = Matrices(S, r);
        _p = Matrices(S, r);
        _q = Matrices(S, r);
        _c = new double[r];
        _diff = new double[r];
        _historyHat = Matrices(S + 1, size);
        _uPrevious = new double[r];
        _pPrevious = new double[r];
        _qPrevious = new double[r];
    }

    private static double[][] Matrices(int count, int size) => Enumerable.Range(0, count).Select(_ => new double[size]).ToArray();

    private void Rhs(double t, TState y, TState destination)
    {
        Evaluations++;
        _term.Evaluate(t, y, destination);
    }
}
