using System.Numerics.Tensors;
using ImplicitBias.Flow.Core.LinearAlgebra;
using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Core.Threading;
using ImplicitBias.Flow.Solvers.Controllers;
using ImplicitBias.Flow.Solvers.Krylov;
using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Double;
using MathNet.Numerics.Providers.LinearAlgebra;

namespace ImplicitBias.Flow.Solvers.Rosenbrock;

/// <summary>
/// The W matrix of a Rosenbrock–Krylov step: W = −C + V H Vᵀ Ω², with C = diag(c_b) the blocks' decay rates (exact),
/// Ω = diag(1/sc_i) the error weights sc_i = atol_b + rtol_b |y_i| at the point where W was built, V an Ω-orthonormal
/// basis of the Krylov space K_M(∂N/∂y, f(t, y)) and H = Vᵀ Ω² (∂N/∂y) V its Arnoldi matrix (Tranquilli &amp; Sandu,
/// SIAM J. Sci. Comput. 36 (2014) A1313, use the same projection; here it only has to stabilize, as the method is a
/// W-method), built by <see cref="Arnoldi.Iterate"/> in the Ω² inner product. Products ∂N/∂y · v are forward
/// differences of N, one evaluation each. The linear systems
/// (I − hγW) x = r are solved with the Woodbury identity: x = D⁻¹ (r + V c), D = I + hγC, (I − hγ H G) c = hγ H Vᵀ Ω² D⁻¹ r,
/// G = Vᵀ Ω² D⁻¹ V; the M × M part is small and dense (MathNet's LU). Inner products run on host copies; the
/// combinations of states go through the algebra, so the stepper stays generic over where states live. Where states
/// are host arrays (<see cref="IHostStateArrays{TState}"/>) the basis is those arrays themselves, one copy instead of
/// two, and <see cref="Solve"/> runs its projection and its combination in <see cref="SolveParts"/> fixed halves of the
/// state on the <see cref="WorkerTeam"/>: every solve streams the whole basis twice (60–80 vectors of the state's
/// length), which made it the largest cost of the step on MNIST (see STEPPERS.md, "The W-method's solves on two cores").
/// </summary>
internal sealed class KrylovW<TState>
    where TState : class
{
    private readonly IStateAlgebra<TState> _algebra;
    private readonly int _maxDimension;
    private readonly int _capacity;
    private readonly int _n;
    private readonly int _blocks;
    private readonly int[] _offsets;
    private readonly double[] _decay;
    private readonly double[][] _basis;
    private readonly TState[] _basisStates;
    private readonly double[][] _products;
    private readonly double[,] _hFull;
    private readonly double[] _work;
    private readonly double[] _orthogonal;
    private readonly TState _pointState;
    private readonly TState _pointN;
    private readonly List<(int Count, double[] Direction)> _extensions = [];
    private readonly double[,,] _gram;
    private readonly double[] _host;
    private readonly double[] _jv;
    private readonly double[] _d;
    private readonly double[] _rowScale;
    private readonly double[] _coefficients;
    private readonly TState _probe;
    private readonly TState _probeN;
    private readonly double[] _hessenberg;
    private readonly ArnoldiProduct _product;
    private readonly DifferenceJacobian<TState> _jacobian;

    private readonly double[] _secantStep;
    private readonly double[] _secantChange;
    private readonly double[] _secantTime;
    private readonly double[] _stepCoordinates;
    private readonly double[] _changeCoordinates;

    private readonly IJacobianModelTerm? _model; // a Jacobian model that costs no evaluation (null: none)
    private readonly int _residualDimension; // with a model: the paid Krylov vectors of ∂N/∂y − W_model
    private readonly int _plainDimension; // the Krylov dimension of a build without the model
    private readonly double[][] _modelRange = [];
    private readonly double[][] _modelCoRange = [];
    private readonly double[][] _seeds = []; // the model's vectors while they are orthonormalized into the basis
    private bool _subtractModel; // Product returns (∂N/∂y − W_model) v while the residual space is built

    private readonly IHostStateArrays<TState>? _hostArrays; // states are host arrays: one basis copy, solves in parts
    private readonly int[] _partEnds; // the parts' ends in the state (part p is [_partEnds[p − 1], _partEnds[p]))
    private readonly double[] _partialProjections; // SolveParts × capacity
    private readonly double[] _partialChanges; // the same for the secant change q̂ (Update)
    private readonly Action<int> _solvePart;
    private double[] _solveInput = [];
    private double[] _solveOutput = [];
    private int _solvePhase; // 0: projections, 1: combinations, 2: the secant pair's projections

    // I − hγ H G (column-major) and its LU factors in place (MathNet's provider, as Matrix.LU() computes them, without
    // the copies that allocated m² values at every attempt), G and a row of H G: resized when W's dimension changes.
    private double[] _g = [];
    private double[] _hgRow = [];
    private double[] _system = [];
    private int _systemOrder;
    private int[] _pivots = [];
    private bool _factored;
    private double[] _rhs = []; // the projections r̂ of a solve's right side, then hγ H r̂ (m values)
    private double[] _c = []; // c = (I − hγ H G)⁻¹ hγ H r̂ (m values)
    private double _hGamma = double.NaN;

    public KrylovW(IStateAlgebra<TState> algebra, ErrorTolerances tolerances, int maxDimension, int extensionCapacity = 0, bool secantUpdates = false, IJacobianModelTerm? model = null, int residualDimension = 0, ICoordinateScaleTerm? coordinateScales = null)
    {
        _algebra = algebra;
        StateLayout layout = algebra.Layout;
        _n = layout.Length;
        _blocks = layout.BlockCount;
        int modelRank = model?.JacobianModelRank ?? 0;
        _model = residualDimension > 0 && modelRank > 0 && maxDimension > 0 ? model : null;
        // With a model the space holds the residual's Krylov vectors and both sides of each of the model's pairs.
        _plainDimension = Math.Max(0, Math.Min(maxDimension, _n));
        _maxDimension = _model is null ? _plainDimension : Math.Min(Math.Max(_plainDimension, residualDimension + (2 * modelRank)), _n);
        _capacity = _maxDimension == 0 ? 0 : Math.Min(_n, _maxDimension + Math.Max(0, extensionCapacity));
        _offsets = Enumerable.Range(0, _blocks + 1).Select(b => b < _blocks ? layout.Offset(b) : _n).ToArray();
        _decay = layout.Blocks.Select(b => b.DecayRate).ToArray();
        _basis = new double[_capacity][];
        _basisStates = new TState[_capacity];
        _residualDimension = _model is null ? 0 : Math.Min(residualDimension, _maxDimension);
        if (_model is not null)
        {
            int rank = Math.Max(0, (_maxDimension - _residualDimension) / 2);
            _modelRange = Enumerable.Range(0, rank).Select(_ => new double[_n]).ToArray();
            _modelCoRange = Enumerable.Range(0, rank).Select(_ => new double[_n]).ToArray();
            _seeds = Enumerable.Range(0, 2 * rank).Select(_ => new double[_n]).ToArray();
        }

        bool keepProducts = _capacity > _maxDimension || _model is not null;
        _products = new double[keepProducts ? _capacity : 0][];
        _hostArrays = algebra as IHostStateArrays<TState>;
        for (int j = 0; j < _capacity; j++)
        {
            _basisStates[j] = algebra.Allocate();
            _basis[j] = _hostArrays?.Values(_basisStates[j]) ?? new double[_n];
        }

        // Fixed parts (not one per core), so that the sums, and with them the answers, do not depend on the machine.
        _partEnds = new int[SolveParts];
        for (int p = 0; p < SolveParts; p++)
        {
            _partEnds[p] = p == SolveParts - 1 ? _n : Math.Min(_n, (_n * (p + 1) / SolveParts) & ~7);
        }

        _partialProjections = new double[SolveParts * _capacity];
        _partialChanges = new double[secantUpdates ? SolveParts * _capacity : 0];
        _solvePart = SolvePart;

        for (int j = 0; j < _products.Length; j++)
        {
            _products[j] = new double[_n];
        }

        _hFull = new double[_capacity, _capacity];
        _work = new double[keepProducts ? _n : 0];
        _orthogonal = new double[_capacity];
        _pointState = algebra.Allocate();
        _pointN = algebra.Allocate();
        _gram = new double[_blocks, _capacity, _capacity];
        _host = new double[_n];
        _jv = new double[_n];
        _d = new double[_blocks];
        _rowScale = new double[_blocks];
        _coefficients = new double[_blocks * _capacity];
        _probe = algebra.Allocate();
        _probeN = algebra.Allocate();

        // H̄ is (M + 1) × M; its last row (the residual norm) is not used here.
        _hessenberg = new double[(_maxDimension + 1) * _maxDimension];
        _secantStep = secantUpdates && _capacity > 0 ? new double[_n] : [];
        _secantChange = secantUpdates && _capacity > 0 ? new double[_n] : [];
        _secantTime = secantUpdates && _capacity > 0 ? new double[_n] : [];
        _stepCoordinates = new double[_capacity];
        _changeCoordinates = new double[_capacity];
        _product = Product;
        _jacobian = new DifferenceJacobian<TState>(algebra, tolerances, coordinateScales);
        TimeDerivative = algebra.Allocate();
    }

    /// <summary>The time of the point where W was last built.</summary>
    public double BuiltAt => _jacobian.Time;

    /// <summary>The state where W was last built (host copy; with N there, all a rebuild needs).</summary>
    public ReadOnlySpan<double> BuiltState => _jacobian.State;

    /// <summary>N at <see cref="BuiltState"/>.</summary>
    public ReadOnlySpan<double> BuiltDerivative => _jacobian.Derivative;

    /// <summary>∂N/∂t at the point where W was built (forward difference).</summary>
    public TState TimeDerivative { get; }

    /// <summary>The dimension of the current Krylov space (0: W = −C only).</summary>
    public int Dimension { get; private set; }

    /// <summary>
    /// Builds W at (t, y) where N(t, y) = <paramref name="n0"/>, from the Krylov space of f = n0 − C y; calls
    /// <paramref name="evaluate"/> once per basis vector. Returns the number of evaluations made.
    /// </summary>
    public int Build(double t, TState y, TState n0, Action<double, TState, TState> evaluate)
    {
        _jacobian.SetPoint(t, y, n0, evaluate);
        ReadOnlySpan<double> yHost = _jacobian.State;
        ReadOnlySpan<double> nHost = _jacobian.Derivative;
        ReadOnlySpan<double> weights2 = _jacobian.Weights;
        Dimension = 0;
        _extensions.Clear();
        if (_maxDimension == 0)
        {
            _jacobian.Release();
            return 0;
        }

        // v1 = f / ‖f‖ (Ω-norm), f = N − C y: the space in which the step's own increments live (as in ROK methods).
        double[] v = _basis[0];
        for (int b = 0; b < _blocks; b++)
        {
            for (int i = _offsets[b]; i < _offsets[b + 1]; i++)
            {
                v[i] = nHost[i] - (_decay[b] * yHost[i]);
            }
        }

        double norm = Arnoldi.Norm(v, weights2);
        if (!(norm > 0) || !double.IsFinite(norm))
        {
            _jacobian.Release();
            return 0;
        }

        TensorPrimitives.Multiply(v, 1.0 / norm, v);
        int rank = _model is null ? 0 : _model.JacobianModel(t, yHost, nHost, _modelRange, _modelCoRange);
        if (rank > 0)
        {
            return BuildWithModel(rank, weights2);
        }

        // Without the model (none, or none at this point) the space asked for, not the larger one a model would fill.
        int evaluations = Arnoldi.Iterate(_product, _basis.AsSpan(0, _plainDimension), _hessenberg, _jv, weights2); // one product per step
        _jacobian.Release();
        Dimension = evaluations;

        int m = Dimension;
        int rows = _plainDimension + 1;
        for (int i = 0; i < m; i++)
        {
            for (int k = 0; k < m; k++)
            {
                _hFull[i, k] = _hessenberg[(k * rows) + i];
            }
        }

        Assemble(0, weights2);
        return evaluations;
    }

    /// <summary>
    /// W with a Jacobian model (<see cref="IJacobianModelTerm"/>, rank q): first <see cref="_residualDimension"/> Arnoldi
    /// vectors of ∂N/∂y − W_model from f (paid, one evaluation each), then the model's ranges u_k and co-ranges Ω⁻² z_k
    /// (free), all Ω-orthonormalized into one basis V. H = Vᵀ Ω² (∂N/∂y) V on the Arnoldi vectors (their products are
    /// kept) and Vᵀ Ω² W_model V on the model's: because V holds both sides of the model, W = V H Vᵀ Ω² carries W_model
    /// exactly, and the Arnoldi vectors the largest part of what it misses (the residual's own Krylov space, not one
    /// orthogonal to the model's, which would miss the residual's action on the model's directions). Solves, extensions
    /// and secant updates are those of any W. Returns the evaluations made.
    /// </summary>
    private int BuildWithModel(int rank, ReadOnlySpan<double> weights2)
    {
        _subtractModel = true;
        _modelRank = rank;
        int evaluations;
        try
        {
            evaluations = Arnoldi.Iterate(_product, _basis.AsSpan(0, _residualDimension), _hessenberg, _jv, weights2);
        }
        finally
        {
            _subtractModel = false;
        }

        _jacobian.Release();
        int r = evaluations;
        double[] w2 = weights2.ToArray();
        int seeds = Math.Min(2 * rank, _maxDimension - r);
        for (int j = 0; j < seeds; j++)
        {
            double[] seed = (j & 1) == 0 ? _modelRange[j / 2] : _modelCoRange[j / 2];
            double[] y = _seeds[j];
            for (int i = 0; i < _n; i++)
            {
                y[i] = (j & 1) == 0 ? seed[i] : seed[i] / w2[i]; // Ω⁻² z: then Vᵀ Ω² x holds z · x
            }
        }

        // The seeds' parts outside the residual's space (twice: classical Gram–Schmidt needs the second pass), each then
        // scaled to unit Ω-norm; all as block products (BlockProducts), which keep the vectors' chunks in cache.
        var coefficients = new double[Math.Max(r, seeds), seeds];
        for (int pass = 0; pass < 2 && r > 0; pass++)
        {
            BlockProducts.Dots(_basis, r, _seeds, seeds, w2, coefficients);
            for (int i = 0; i < r; i++)
            {
                for (int j = 0; j < seeds; j++)
                {
                    coefficients[i, j] = -coefficients[i, j];
                }
            }

            BlockProducts.Combine(_basis, r, coefficients, _seeds.AsSpan(0, seeds), accumulate: true);
        }

        for (int j = 0; j < seeds; j++)
        {
            double norm = Math.Sqrt(WeightedDot.Compute(_seeds[j], _seeds[j], w2));
            TensorPrimitives.Multiply(_seeds[j], norm > 0 && double.IsFinite(norm) ? 1.0 / norm : 0.0, _seeds[j]);
        }

        // An Ω-orthonormal basis of their span from the eigenvectors of their Gram matrix, directions of relative size
        // below 1e-5 dropped (a co-range that the ranges already hold, to round-off); then once more by Cholesky
        // (CholQR2), which restores the orthogonality the first pass loses to the Gram matrix's condition.
        var gram = new double[seeds, seeds];
        BlockProducts.Dots(_seeds, seeds, _seeds, seeds, w2, gram, symmetric: true);
        var kept = new List<int>();
        var transform = new double[seeds, seeds];
        if (seeds > 0 && gram.Cast<double>().All(double.IsFinite)) // no room for the model (a small state), or a product not finite: W without it
        {
            var evd = DenseMatrix.OfArray(gram).Evd(Symmetricity.Symmetric);
            double largest = evd.EigenValues[seeds - 1].Real;
            for (int j = seeds - 1; j >= 0 && r + kept.Count < _maxDimension; j--)
            {
                double lambda = evd.EigenValues[j].Real;
                if (double.IsFinite(lambda) && lambda > 1e-10 * largest)
                {
                    kept.Add(j);
                }
            }

            for (int c = 0; c < kept.Count; c++)
            {
                double scale = 1.0 / Math.Sqrt(evd.EigenValues[kept[c]].Real);
                for (int i = 0; i < seeds; i++)
                {
                    transform[i, c] = evd.EigenVectors[i, kept[c]] * scale;
                }
            }
        }

        int added = kept.Count;

        Span<double[]> fresh = _basis.AsSpan(r, added);
        BlockProducts.Combine(_seeds, seeds, transform, fresh, accumulate: false);
        if (added > 0)
        {
            var again = new double[added, added];
            BlockProducts.Dots(fresh, added, fresh, added, w2, again, symmetric: true);
            if (again.Cast<double>().All(double.IsFinite))
            {
                // After the first pass the Gram matrix is the identity to round-off, so the factorization cannot fail
                // unless a vector was lost to round-off; then the first pass's vectors are kept as they are.
                Matrix<double>? factor = null;
                try
                {
                    factor = DenseMatrix.OfArray(again).Cholesky().Factor;
                }
                catch (ArgumentException)
                {
                    // not positive definite to round-off (MathNet's Cholesky says so by throwing)
                }

                if (factor is not null && factor.Diagonal().All(v => v > 0 && double.IsFinite(v)))
                {
                    Matrix<double> inverse = factor.Transpose().Inverse(); // L⁻ᵀ, upper triangular
                    var second = new double[added, added];
                    for (int i = 0; i < added; i++)
                    {
                        for (int c = 0; c < added; c++)
                        {
                            second[i, c] = inverse[i, c];
                        }
                    }

                    BlockProducts.Combine(fresh, added, second, _seeds.AsSpan(0, added), accumulate: false);
                    for (int c = 0; c < added; c++)
                    {
                        _seeds[c].CopyTo(_basis[r + c], 0);
                    }
                }
            }
        }

        int m = r + added;
        if (_hostArrays is null)
        {
            for (int j = r; j < m; j++)
            {
                _algebra.Write(_basis[j], _basisStates[j]);
            }
        }

        // The model's products on the new vectors, W_model v = Σ_k u_k (z_k · v), as two block products.
        var along = new double[rank, added];
        BlockProducts.Dots(_modelCoRange, rank, fresh, added, [], along);
        BlockProducts.Combine(_modelRange, rank, along, _products.AsSpan(r, added), accumulate: false);

        Dimension = m;
        var h = new double[m, m];
        BlockProducts.Dots(_basis, m, _products, m, w2, h);
        for (int i = 0; i < m; i++)
        {
            for (int k = 0; k < m; k++)
            {
                _hFull[i, k] = h[i, k];
            }
        }

        // The per-block Gram entries as block products too (Assemble's pairwise products stream the basis m²/2 times).
        for (int b = 0; b < _blocks; b++)
        {
            var blockGram = new double[m, m];
            BlockProducts.Dots(_basis, m, _basis, m, w2, blockGram, _offsets[b], _offsets[b + 1] - _offsets[b], symmetric: true);
            for (int i = 0; i < m; i++)
            {
                for (int k = 0; k < m; k++)
                {
                    _gram[b, i, k] = blockGram[i, k];
                }
            }
        }

        if (!MatrixIsFinite(m))
        {
            Dimension = 0; // a product was not finite: no W beyond −C until the next build
        }

        Assemble(Dimension, weights2); // nothing left to sum: the rest of Assemble (the factors' reset, the buffers)
        return evaluations;
    }

    private int _modelRank;


    /// <summary>destination −= W_model x, W_model x = Σ_k u_k (z_k · x).</summary>
    private void SubtractModel(ReadOnlySpan<double> x, Span<double> destination)
    {
        for (int k = 0; k < _modelRank; k++)
        {
            TensorPrimitives.MultiplyAdd(_modelRange[k], -TensorPrimitives.Dot<double>(_modelCoRange[k], x), destination, destination);
        }
    }

    /// <summary>The extensions made since the last build, in order: how many vectors each asked for, and its direction.</summary>
    public IReadOnlyList<(int Count, double[] Direction)> Extensions => _extensions;

    /// <summary>
    /// Extends the space by up to <paramref name="count"/> vectors of the Krylov sequence of ∂N/∂y started from the part
    /// of <paramref name="direction"/> (a host vector) outside the space: the products are forward differences at the
    /// point where W was built (one evaluation each), so W stays the Ω-orthogonal projection of one Jacobian, now on a
    /// larger space; its matrix gains full rows and columns (no longer Hessenberg), from the products kept for every
    /// basis vector. A rejected step's error estimate is the direction meant here: it is what the step did not
    /// stabilize, and a few vectors from it cost far less than rebuilding the whole space. Stops early at the capacity
    /// given to the constructor, or when the direction (or a later product) lies in the space. Returns the evaluations
    /// made.
    /// </summary>
    public int Extend(ReadOnlySpan<double> direction, int count, Action<double, TState, TState> evaluate)
    {
        int start = Dimension;
        if (start == 0 || count <= 0 || start >= _capacity || _products.Length == 0 || double.IsNaN(BuiltAt))
        {
            return 0;
        }

        _algebra.Write(_jacobian.State, _pointState);
        _algebra.Write(_jacobian.Derivative, _pointN);
        _jacobian.SetPoint(_jacobian.Time, _pointState, _pointN, evaluate);
        ReadOnlySpan<double> weights2 = _jacobian.Weights;
        direction.CopyTo(_work);
        int evaluations = 0;
        while (evaluations < count && Dimension < _capacity)
        {
            int j = Dimension;
            double scale = Arnoldi.Norm(_work, weights2);
            Arnoldi.Orthogonalize(_basis.AsSpan(0, j), _work, _orthogonal, weights2);
            double beta = Arnoldi.Norm(_work, weights2);
            if (!double.IsFinite(beta) || !(beta > 1e-8 * scale))
            {
                break; // already in the space (to round-off): nothing new to add
            }

            TensorPrimitives.Multiply(_work, 1.0 / beta, _basis[j]);
            _jacobian.Product(_basis[j], _basisStates[j], _products[j]);
            evaluations++;
            Dimension = j + 1;
            for (int i = 0; i <= j; i++)
            {
                _hFull[i, j] = Arnoldi.Dot(_basis[i], _products[j], weights2);
            }

            for (int k = 0; k < j; k++)
            {
                _hFull[j, k] = Arnoldi.Dot(_basis[j], _products[k], weights2);
            }

            _products[j].CopyTo(_work);
        }

        _jacobian.Release();
        if (Dimension > start)
        {
            _extensions.Add((count, direction.ToArray()));
            Assemble(start, weights2);
        }

        return evaluations;
    }

    /// <summary>The per-block Gram entries of the basis vectors from <paramref name="from"/> on, and H from its full copy.</summary>
    private void Assemble(int from, ReadOnlySpan<double> weights2)
    {
        int m = Dimension;
        for (int b = 0; b < _blocks; b++)
        {
            int o = _offsets[b], length = _offsets[b + 1] - o;
            for (int i = from; i < m; i++)
            {
                for (int k = 0; k <= i; k++)
                {
                    double s = WeightedDot.Compute(_basis[i].AsSpan(o, length), _basis[k].AsSpan(o, length), weights2.Slice(o, length));

                    _gram[b, i, k] = s;
                    _gram[b, k, i] = s;
                }
            }
        }

        _factored = false;
        if (!MatrixIsFinite(m))
        {
            Dimension = from; // a product was not finite: drop what it added (all of W's space when building)
        }

        _rhs = new double[Dimension];
        _c = new double[Dimension];
    }

    private bool MatrixIsFinite(int m)
    {
        for (int i = 0; i < m; i++)
        {
            for (int k = 0; k < m; k++)
            {
                if (!double.IsFinite(_hFull[i, k]))
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>
    /// g = ∂N/∂t at (t, y), N(t, y) = <paramref name="n0"/>: the time column of W for the autonomous form. A term that
    /// knows it in closed form (<see cref="ITimeDerivativeTerm{TState}"/>) gives it at no cost; otherwise a forward
    /// difference in t (one evaluation). It is renewed at every step because the flows' explicit time dependence (η(t),
    /// Adam's bias corrections ~ 1/t) changes fastest early on; a stale g keeps the order but not the error constant.
    /// Returns the number of evaluations made.
    /// </summary>
    public int UpdateTimeDerivative(double t, TState y, TState n0, Action<double, TState, TState> evaluate, ITimeDerivativeTerm<TState>? known)
    {
        if (known is not null)
        {
            known.TimeDerivative(t, y, n0, TimeDerivative);
            return 0;
        }

        double dt = (t + (1.4901161193847656e-8 * Math.Max(1.0, Math.Abs(t)))) - t;
        _algebra.Copy(y, _probe);
        evaluate(t + dt, _probe, _probeN);
        _algebra.Combine(_probeN, [1.0 / dt], [-1.0 / dt], new ReadOnlySpan<TState>(ref n0), false, TimeDerivative);
        return 1;
    }

    /// <summary>
    /// Broyden's update of W's matrix from an accepted step (only when the constructor was asked for secant updates;
    /// otherwise nothing): with s = <paramref name="step"/> = y1 − y0, ΔN = <paramref name="change"/> =
    /// N(t + h, y1) − N(t, y0) and its time part <paramref name="timePart"/> (the integral of ∂N/∂t over the step),
    /// q = ΔN − time part ≈ (∂N/∂y) s, and their coordinates ŝ = Vᵀ Ω² s,
    /// q̂ = Vᵀ Ω² q in the Ω-orthonormal basis, H ← H + (q̂ − H ŝ) ŝᵀ / ŝᵀŝ, the least change of H for which W maps
    /// the step's projection as the flow's Jacobian between its two ends does (the "good" Broyden update, Dennis &amp;
    /// Moré, SIAM Rev. 19 (1977) 46). The step lies almost wholly in W's space (its first vector is f), so the pair
    /// costs no evaluation and renews W along the path the solution takes: the flows' stiff directions turn as θ
    /// moves, and a W that keeps its basis but not its matrix holds the step for fewer steps. A W-method keeps its
    /// order for any W, so the update changes step sizes, never the order; a pair that would change hγW along the step
    /// by more than <see cref="SecantTrust"/> (<paramref name="hGamma"/> the step's hγ) is not taken. Returns whether
    /// H changed.
    /// </summary>
    public bool Update(TState step, TState change, TState timePart, double hGamma)
    {
        int m = Dimension;
        if (m == 0 || _secantStep.Length == 0)
        {
            return false;
        }

        _algebra.Read(step, _secantStep);
        _algebra.Read(change, _secantChange);
        _algebra.Read(timePart, _secantTime);
        ReadOnlySpan<double> weights2 = _jacobian.Weights;

        // q = ΔN − ∫ ∂N/∂t. Where the time dependence makes most of ΔN, q is a difference of near-equal terms whose
        // error (the time integral's) is not small beside it: such a pair says little about ∂N/∂y and is not taken.
        if (!(Arnoldi.Norm(_secantTime, weights2) <= SecantTimeShare * Arnoldi.Norm(_secantChange, weights2)))
        {
            return false;
        }

        TensorPrimitives.Subtract(_secantChange, _secantTime, _secantChange);
        // ŝ and q̂ in the parts of the solves (one pass over the basis for both), the halves added in order.
        RunParts(2, (long)m * _n >= ParallelSolveEntries);
        double norm2 = 0;
        for (int i = 0; i < m; i++)
        {
            double stepSum = 0, changeSum = 0;
            for (int p = 0; p < SolveParts; p++)
            {
                stepSum += _partialProjections[(p * _capacity) + i];
                changeSum += _partialChanges[(p * _capacity) + i];
            }

            _stepCoordinates[i] = stepSum;
            _changeCoordinates[i] = changeSum;
            norm2 += stepSum * stepSum;
        }

        if (!(norm2 > 0) || !double.IsFinite(norm2))
        {
            return false;
        }

        // The residual q̂ − H ŝ first (in place of q̂, scaled by 1/ŝᵀŝ), so that a pair that is not finite, or that
        // would change hγW along the step by more than SecantTrust, leaves H as it was. Such a pair would move W on a
        // direction that is stiff at this step size, where the pair's own error (the curvature of N along the step,
        // the rest of the time correction) is magnified by hγ|λ|: on y' = −1e4 (y − cos t) a change of 2.5 % in W's
        // one eigenvalue (hγ ‖ΔH‖ ≈ 22) left the solve 6e-4 off, while on NGD at Table 1 every pair asks for less than
        // 0.3 and more than half for less than 0.01. (A change of 3e-4 asked at hγ = 0.03 still cost that solve 8.5e-6
        // once its steps had grown tenfold: the time-share test above is what keeps such pairs out.)
        double residual2 = 0;
        for (int i = 0; i < m; i++)
        {
            double residual = _changeCoordinates[i];
            for (int k = 0; k < m; k++)
            {
                residual -= _hFull[i, k] * _stepCoordinates[k];
            }

            residual2 += residual * residual;
            _changeCoordinates[i] = residual / norm2;
        }

        if (!double.IsFinite(residual2) || !(hGamma * hGamma * residual2 <= SecantTrust * SecantTrust * norm2))
        {
            return false;
        }

        for (int i = 0; i < m; i++)
        {
            for (int k = 0; k < m; k++)
            {
                _hFull[i, k] += _changeCoordinates[i] * _stepCoordinates[k];
            }
        }

        _factored = false;
        return true;
    }

    /// <summary>
    /// The largest size of a secant pair's time part, relative to ΔN (in the Ω-norm), for <see cref="Update"/> to take
    /// it: 1. On y' = −1e4 (y − cos t) the time part is 1e4 tan t times ΔN, and the pairs taken there left the solve 8.5e-6
    /// off where without updates it ends 5.7e-7 from the slow solution; on the drifting stiff modes of the tests (N =
    /// a(t) F(y)) 1/2 refused most pairs (5,004 evaluations, without updates 5,178), 1 keeps them (3,063).
    /// </summary>
    public const double SecantTimeShare = 1;

    /// <summary>
    /// The largest hγ ‖q̂ − H ŝ‖ / ‖ŝ‖ of a secant pair that <see cref="Update"/> takes, the change it asks of hγW along
    /// the step: 1. Larger changes act on directions that are stiff at this step size, where the pair's error is
    /// magnified (see <see cref="Update"/>).
    /// </summary>
    public const double SecantTrust = 1.0;

    /// <summary>The side of W's matrix H (its <see cref="Dimension"/>) and its entries row by row, for a checkpoint.</summary>
    public double[] Matrix()
    {
        int m = Dimension;
        var entries = new double[m * m];
        for (int i = 0; i < m; i++)
        {
            for (int k = 0; k < m; k++)
            {
                entries[(i * m) + k] = _hFull[i, k];
            }
        }

        return entries;
    }

    /// <summary>
    /// Puts back the matrix <see cref="Matrix"/> gave, after a rebuild of the same space (the basis repeats its
    /// arithmetic; the secant updates since the build live only in H). Returns false, changing nothing, when the sizes
    /// differ.
    /// </summary>
    public bool RestoreMatrix(ReadOnlySpan<double> entries)
    {
        int m = Dimension;
        if (entries.Length != m * m)
        {
            return false;
        }

        for (int i = 0; i < m; i++)
        {
            for (int k = 0; k < m; k++)
            {
                _hFull[i, k] = entries[(i * m) + k];
            }
        }

        _factored = false;
        return true;
    }

    /// <summary>Prepares solves with I − hγW for the given hγ.</summary>
    public void Factor(double hGamma)
    {
        for (int b = 0; b < _blocks; b++)
        {
            _d[b] = 1.0 / (1.0 + (hGamma * _decay[b]));
        }

        _hGamma = hGamma;
        int m = Dimension;
        _factored = false;
        if (m == 0)
        {
            return;
        }

        if (_systemOrder != m)
        {
            _g = new double[m * m];
            _hgRow = new double[m];
            _system = new double[m * m];
            _pivots = new int[m];
            _systemOrder = m;
        }

        // S = I − hγ H G, G = Σ_b d_b Gram_b (column-major values).
        double[] g = _g;
        for (int k = 0; k < m; k++)
        {
            for (int i = 0; i < m; i++)
            {
                double s = 0;
                for (int b = 0; b < _blocks; b++)
                {
                    s += _d[b] * _gram[b, i, k];
                }

                g[i + (k * m)] = s;
            }
        }

        // Row i of H G as Σ_l H_il (row l of G), G symmetric so its column-major values are its rows; by hand, because
        // MathNet's products allocate their operands' copies (46 KB per product at m = 50).
        double[] system = _system;
        Span<double> row = _hgRow;
        for (int i = 0; i < m; i++)
        {
            row.Clear();
            for (int l = 0; l < m; l++)
            {
                TensorPrimitives.MultiplyAdd(g.AsSpan(l * m, m), _hFull[i, l], row, row);
            }

            for (int k = 0; k < m; k++)
            {
                system[i + (k * m)] = (i == k ? 1.0 : 0.0) - (hGamma * row[k]);
            }
        }

        LinearAlgebraControl.Provider.LUFactor(system, m, _pivots);
        _factored = true;
    }

    /// <summary>
    /// The small part of a solve, shared by both paths: from the projections r̂ = Vᵀ Ω² D⁻¹ r in <c>_rhs</c>,
    /// c = (I − hγ H G)⁻¹ hγ H r̂ with the factors of <see cref="Factor"/>, and the combination's coefficients D⁻¹ c per
    /// block (times the solve's scale) in <c>_coefficients</c>. The products are loops: MathNet's allocate.
    /// </summary>
    private void SolveProjected(int m)
    {
        for (int i = 0; i < m; i++)
        {
            double s = 0;
            for (int k = 0; k < m; k++)
            {
                s += _hFull[i, k] * _rhs[k];
            }

            _c[i] = _hGamma * s;
        }

        LinearAlgebraControl.Provider.LUSolveFactored(1, _system, m, _pivots, _c);
        for (int b = 0; b < _blocks; b++)
        {
            for (int j = 0; j < m; j++)
            {
                _coefficients[(b * m) + j] = _rowScale[b] * _c[j];
            }
        }
    }

    /// <summary>destination ← scale · (I − hγW)⁻¹ r for the hγ of the last <see cref="Factor"/>; r is not changed.</summary>
    public void Solve(TState r, double scale, TState destination)
    {
        int m = Dimension;
        for (int b = 0; b < _blocks; b++)
        {
            _rowScale[b] = scale * _d[b];
        }

        if (m == 0)
        {
            _algebra.Combine(r, _rowScale, [], [], true, destination);
            return;
        }

        if (!_factored)
        {
            throw new InvalidOperationException("W changed since it was factored: call Factor before Solve.");
        }

        if (_hostArrays is not null)
        {
            SolveOnHost(_hostArrays.Values(r), _hostArrays.Values(destination), m);
            return;
        }

        ReadOnlySpan<double> weights2 = _jacobian.Weights;
        _algebra.Read(r, _host);
        Array.Clear(_rhs);
        for (int b = 0; b < _blocks; b++)
        {
            int o = _offsets[b], length = _offsets[b + 1] - o;
            ReadOnlySpan<double> rBlock = _host.AsSpan(o, length), w2 = weights2.Slice(o, length);
            for (int i = 0; i < m; i++)
            {
                _rhs[i] += _d[b] * WeightedDot.Compute(_basis[i].AsSpan(o, length), rBlock, w2);
            }
        }

        SolveProjected(m);
        _algebra.Combine(r, _rowScale, _coefficients.AsSpan(0, _blocks * m), _basisStates.AsSpan(0, m), true, destination);
    }

    /// <summary>
    /// The parts a solve on host arrays is split into: 2, the cores of the machine this was measured on. More parts would
    /// change nothing on it; fewer cores run the parts one after another with the same sums.
    /// </summary>
    public const int SolveParts = 2;

    /// <summary>Below this many basis entries (m × n) a solve runs its parts on the calling thread: waking a worker costs more.</summary>
    public const long ParallelSolveEntries = 1L << 17;

    /// <summary>
    /// <see cref="Solve"/> on host arrays: the projections Vᵀ Ω² D⁻¹ r part by part (each part sums over its own half of
    /// the state, and the halves are added in order), the small system on the calling thread, then
    /// x = D⁻¹ (r + V c) part by part. <paramref name="input"/> and <paramref name="output"/> may be the same array.
    /// </summary>
    private void SolveOnHost(double[] input, double[] output, int m)
    {
        _solveInput = input;
        _solveOutput = output;
        bool parallel = (long)m * _n >= ParallelSolveEntries;
        RunParts(0, parallel);
        for (int i = 0; i < m; i++)
        {
            double sum = 0;
            for (int p = 0; p < SolveParts; p++)
            {
                sum += _partialProjections[(p * _capacity) + i];
            }

            _rhs[i] = sum;
        }

        SolveProjected(m);
        RunParts(1, parallel);
        _solveInput = [];
        _solveOutput = [];
    }

    private void RunParts(int phase, bool parallel)
    {
        _solvePhase = phase;
        if (parallel)
        {
            WorkerTeam.Shared.Run(SolveParts, _solvePart);
            return;
        }

        for (int p = 0; p < SolveParts; p++)
        {
            _solvePart(p);
        }
    }

    /// <summary>
    /// One part of <see cref="SolveOnHost"/>: its projections (phase 0) or its share of x (phase 1); or of
    /// <see cref="Update"/>'s projections of the secant pair (phase 2).
    /// </summary>
    private void SolvePart(int part)
    {
        int m = Dimension;
        int start = part == 0 ? 0 : _partEnds[part - 1], end = _partEnds[part];
        ReadOnlySpan<double> weights2 = _jacobian.Weights;
        if (_solvePhase == 2)
        {
            ReadOnlySpan<double> s = _secantStep.AsSpan(start, end - start), q = _secantChange.AsSpan(start, end - start);
            ReadOnlySpan<double> w2 = weights2.Slice(start, end - start);
            for (int i = 0; i < m; i++)
            {
                ReadOnlySpan<double> v = _basis[i].AsSpan(start, end - start);
                _partialProjections[(part * _capacity) + i] = WeightedDot.Compute(v, s, w2);
                _partialChanges[(part * _capacity) + i] = WeightedDot.Compute(v, q, w2);
            }

            return;
        }
        if (_solvePhase == 0)
        {
            Span<double> partial = _partialProjections.AsSpan(part * _capacity, m);
            partial.Clear();
            for (int b = 0; b < _blocks; b++)
            {
                int o = Math.Max(start, _offsets[b]), e = Math.Min(end, _offsets[b + 1]);
                if (e <= o)
                {
                    continue;
                }

                ReadOnlySpan<double> rPart = _solveInput.AsSpan(o, e - o), w2 = weights2.Slice(o, e - o);
                for (int i = 0; i < m; i++)
                {
                    partial[i] += _d[b] * WeightedDot.Compute(_basis[i].AsSpan(o, e - o), rPart, w2);
                }
            }

            return;
        }

        // x = D⁻¹ r + Σ_j (D⁻¹ c_j) v_j, a chunk at a time so that x's chunk stays in the first-level cache while the
        // basis streams past it once.
        for (int b = 0; b < _blocks; b++)
        {
            int o = Math.Max(start, _offsets[b]), e = Math.Min(end, _offsets[b + 1]);
            for (int c = o; c < e; c += CombineChunk)
            {
                int length = Math.Min(CombineChunk, e - c);
                Span<double> x = _solveOutput.AsSpan(c, length);
                TensorPrimitives.Multiply(_solveInput.AsSpan(c, length), _rowScale[b], x);
                for (int j = 0; j < m; j++)
                {
                    TensorPrimitives.MultiplyAdd(_basis[j].AsSpan(c, length), _coefficients[(b * m) + j], x, x);
                }
            }
        }
    }

    private const int CombineChunk = 1024;

    /// <summary>
    /// ∂N/∂y · v_j at the point being built, by a forward difference (one evaluation); also writes v_j where the
    /// states live, for the combinations in <see cref="Solve"/>.
    /// </summary>
    private void Product(int j, ReadOnlySpan<double> v, Span<double> jv)
    {
        _jacobian.Product(v, _basisStates[j], jv);
        if (_products.Length > 0)
        {
            jv.CopyTo(_products[j]); // kept for the rows of H that extensions add
        }

        if (_subtractModel)
        {
            SubtractModel(v, jv); // the Arnoldi process of the residual ∂N/∂y − W_model
        }
    }
}
