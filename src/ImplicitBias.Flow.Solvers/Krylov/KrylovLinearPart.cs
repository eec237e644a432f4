using System.Numerics.Tensors;
using ImplicitBias.Flow.Core.LinearAlgebra;
using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Controllers;
using MathNet.Numerics.LinearAlgebra;

namespace ImplicitBias.Flow.Solvers.Krylov;

/// <summary>
/// A linear part A = −C + B S Bᵀ Ω² for an exponential integrator: C = diag(c_b) the blocks' decay rates, B an
/// Ω-orthonormal basis whose every vector lies inside one state block, and S = Bᵀ Ω² (∂N/∂y) B the Galerkin projection
/// of the Jacobian of the nonlinear part on span B.
/// </summary>
/// <remarks>
/// <para>Why this shape: C is a multiple of the identity on each block, so it commutes with the projector
/// P = B Bᵀ Ω² when every basis vector lies in one block. Span B is then invariant under A (A B = B (S − C_r), C_r the
/// decays of the basis vectors' blocks) and A = −C on its complement, so every φ-function of hA splits exactly:
/// φ(hA) x = φ(−hC)(x − P x) + B φ(h A_r) Bᵀ Ω² x with the small r × r matrix A_r = S − C_r. Any A gives a consistent
/// exponential integrator (y' = A y + [N − C y − A y] is an identity); a good one takes the fast modes out of the
/// explicit part.</para>
/// <para>Which span: the fast modes of the flows with momentum are oscillating θ–m̃ pairs (−c1/2 ± iω, ω² = c1 η λ for
/// the large eigenvalues λ of P⁻¹∇²L, see STEPPERS.md). An Arnoldi iteration on ∂N/∂y from f = N − C y (as the
/// Rosenbrock-W matrix) finds the extreme eigenvalues first; the Ritz vectors of the <see cref="Modes"/> largest |μ|
/// (real and imaginary parts of a complex pair) are split into their block parts, which are orthonormalized block by
/// block, and S is measured with one more product per basis vector. Products are forward differences of N.</para>
/// <para>A safeguard: should A_r have an eigenvalue with positive real part σ (a spurious Ritz value from the
/// differences), σ is subtracted from A_r's diagonal; the splitting stays exact, the growth goes to the explicit part.</para>
/// </remarks>
internal sealed class KrylovLinearPart<TState>
    where TState : class
{
    private readonly IStateAlgebra<TState> _algebra;
    private readonly DifferenceJacobian<TState> _jacobian;
    private readonly int _n;
    private readonly int _blocks;
    private readonly double[] _decay;
    private readonly double[][] _arnoldi;
    private readonly double[] _hessenberg;
    private readonly double[] _work;
    private readonly TState _scratch;
    private readonly double[][] _basis;
    private readonly TState[] _basisStates;
    private readonly int[] _blockOf;
    private readonly int[] _partOf;
    private readonly (int Start, int End)[][] _parts;
    private readonly int[] _representative;
    private readonly double[][] _jb;
    private readonly double[] _host;
    private readonly int _capacity;

    public KrylovLinearPart(IStateAlgebra<TState> algebra, ErrorTolerances tolerances, int arnoldiSteps, int modes)
    {
        _algebra = algebra;
        _jacobian = new DifferenceJacobian<TState>(algebra, tolerances);
        StateLayout layout = algebra.Layout;
        _n = layout.Length;
        _blocks = layout.BlockCount;
        _decay = layout.Blocks.Select(b => b.DecayRate).ToArray();
        ArnoldiSteps = Math.Max(1, Math.Min(arnoldiSteps, _n));
        Modes = Math.Max(1, modes);
        _arnoldi = new double[ArnoldiSteps][];
        for (int j = 0; j < ArnoldiSteps; j++)
        {
            _arnoldi[j] = new double[_n];
        }

        _hessenberg = new double[(ArnoldiSteps + 1) * ArnoldiSteps];
        _work = new double[_n];
        _scratch = algebra.Allocate();

        // The parts: the blocks grouped by decay rate. C is a multiple of the identity on each part, so a basis vector
        // need only lie in one part (not one block) for P to commute with C; splitting no further keeps span B close
        // to invariant under ∂N/∂y (a Ritz vector of a flow without momentum is not split at all).
        double[] rates = _decay.Distinct().ToArray();
        _parts = rates.Select(rate => Enumerable.Range(0, _blocks).Where(b => _decay[b] == rate)
            .Select(b => (layout.Offset(b), b + 1 < _blocks ? layout.Offset(b + 1) : _n)).ToArray()).ToArray();
        _representative = rates.Select(rate => Array.IndexOf(_decay, rate)).ToArray();

        // A complex pair may take one column past Modes; each Ritz vector gives at most one vector per part.
        _capacity = Math.Min(_n, (Modes + 1) * _parts.Length);
        _basis = new double[_capacity][];
        _basisStates = new TState[_capacity];
        _jb = new double[_capacity][];
        for (int k = 0; k < _capacity; k++)
        {
            _basis[k] = new double[_n];
            _jb[k] = new double[_n];
            _basisStates[k] = algebra.Allocate();
        }

        _blockOf = new int[_capacity];
        _partOf = new int[_capacity];
        _host = new double[_n];
        Reduced = [];
        Coupling = [];
        BasisDecay = [];
    }

    /// <summary>The Arnoldi steps of a build.</summary>
    public int ArnoldiSteps { get; }

    /// <summary>How many Ritz vectors (largest |μ|) span the basis before the block split.</summary>
    public int Modes { get; }

    /// <summary>r, the dimension of span B (0: A = −C).</summary>
    public int Dimension { get; private set; }

    /// <summary>A_r = S − C_r (after the safeguard), r × r row-major.</summary>
    public double[] Reduced { get; private set; }

    /// <summary>S (after the safeguard), r × r row-major: the part of A_r that the nonlinear part gives back.</summary>
    public double[] Coupling { get; private set; }

    /// <summary>c_b of each basis vector's block.</summary>
    public double[] BasisDecay { get; private set; }

    /// <summary>A block of basis vector k's part (all blocks of a part have its decay rate).</summary>
    public ReadOnlySpan<int> BlockOf => _blockOf.AsSpan(0, Dimension);

    /// <summary>The basis vectors where the states live.</summary>
    public ReadOnlySpan<TState> BasisStates => _basisStates.AsSpan(0, Dimension);

    /// <summary>The time of the last build (NaN before the first).</summary>
    public double BuiltAt => _jacobian.Time;

    /// <summary>y at the last build (host copy).</summary>
    public ReadOnlySpan<double> BuiltState => _jacobian.State;

    /// <summary>N at the last build (host copy).</summary>
    public ReadOnlySpan<double> BuiltDerivative => _jacobian.Derivative;

    /// <summary>The largest |μ| of the Ritz values kept at the last build (0 when none).</summary>
    public double SpectralRadius { get; private set; }

    /// <summary>Builds A at (t, y), N(t, y) = <paramref name="n0"/>; returns the evaluations made.</summary>
    public int Build(double t, TState y, TState n0, Action<double, TState, TState> evaluate)
    {
        _jacobian.SetPoint(t, y, n0, evaluate);
        try
        {
            return BuildAtPoint();
        }
        finally
        {
            _jacobian.Release();
        }
    }

    /// <summary>coordinates ← Bᵀ Ω² x (the weights of the last build).</summary>
    public void Project(TState x, Span<double> coordinates)
    {
        _algebra.Read(x, _host);
        for (int k = 0; k < Dimension; k++)
        {
            coordinates[k] = PartDot(_partOf[k], _basis[k], _host);
        }
    }

    private int BuildAtPoint()
    {
        Dimension = 0;
        SpectralRadius = 0;
        ReadOnlySpan<double> y = _jacobian.State;
        ReadOnlySpan<double> nAt = _jacobian.Derivative;
        ReadOnlySpan<double> weights = _jacobian.Weights;
        ReadOnlySpan<int> offsets = _jacobian.Offsets;

        // The Arnoldi start f = N − C y, as the Rosenbrock-W matrix.
        double[] v = _arnoldi[0];
        for (int b = 0; b < _blocks; b++)
        {
            for (int i = offsets[b]; i < offsets[b + 1]; i++)
            {
                v[i] = nAt[i] - (_decay[b] * y[i]);
            }
        }

        double norm = Arnoldi.Norm(v, weights);
        if (!(norm > 0) || !double.IsFinite(norm))
        {
            return 0;
        }

        TensorPrimitives.Multiply(v, 1.0 / norm, v);
        int m = Arnoldi.Iterate((_, vj, av) => _jacobian.Product(vj, _scratch, av), _arnoldi, _hessenberg, _work, weights);
        int evaluations = m;
        int rows = ArnoldiSteps + 1;
        Matrix<double> h = Matrix<double>.Build.Dense(m, m, (i, k) => _hessenberg[(k * rows) + i]);
        if (!h.ToColumnMajorArray().All(double.IsFinite))
        {
            return evaluations;
        }

        // Ritz pairs: MathNet stores a complex pair's eigenvector as two real columns (real, imaginary parts).
        var evd = h.Evd();
        System.Numerics.Complex[] mu = evd.EigenValues.ToArray();
        Matrix<double> vectors = evd.EigenVectors;
        int[] order = Enumerable.Range(0, m).OrderByDescending(i => mu[i].Magnitude).ThenBy(i => i).ToArray();
        var columns = new List<int>();
        foreach (int i in order)
        {
            if (columns.Count >= Modes)
            {
                break;
            }

            if (columns.Contains(i))
            {
                continue;
            }

            columns.Add(i);
            SpectralRadius = Math.Max(SpectralRadius, mu[i].Magnitude);
            if (mu[i].Imaginary != 0)
            {
                int partner = mu[i].Imaginary > 0 ? i + 1 : i - 1;
                if (partner >= 0 && partner < m && !columns.Contains(partner))
                {
                    columns.Add(partner);
                }
            }
        }

        // The Ritz vectors' block parts, orthonormalized block by block (twice, as the Arnoldi iteration).
        int r = 0;
        foreach (int column in columns)
        {
            Array.Clear(_work);
            for (int j = 0; j < m; j++)
            {
                double c = vectors[j, column];
                double[] a = _arnoldi[j];
                for (int i = 0; i < _n; i++)
                {
                    _work[i] += c * a[i];
                }
            }

            double total = Arnoldi.Norm(_work, weights);
            if (!(total > 0) || !double.IsFinite(total))
            {
                continue;
            }

            for (int g = 0; g < _parts.Length && r < _capacity; g++)
            {
                double[] candidate = _basis[r];
                Array.Clear(candidate);
                foreach ((int start, int end) in _parts[g])
                {
                    _work.AsSpan(start, end - start).CopyTo(candidate.AsSpan(start));
                }

                for (int pass = 0; pass < 2; pass++)
                {
                    for (int k = 0; k < r; k++)
                    {
                        if (_partOf[k] == g)
                        {
                            double c = PartDot(g, _basis[k], candidate);
                            foreach ((int start, int end) in _parts[g])
                            {
                                for (int i = start; i < end; i++)
                                {
                                    candidate[i] -= c * _basis[k][i];
                                }
                            }
                        }
                    }
                }

                double part = Math.Sqrt(PartDot(g, candidate, candidate));
                if (part > 1e-8 * total)
                {
                    foreach ((int start, int end) in _parts[g])
                    {
                        for (int i = start; i < end; i++)
                        {
                            candidate[i] /= part;
                        }
                    }

                    _partOf[r] = g;
                    _blockOf[r] = _representative[g];
                    r++;
                }
            }
        }

        // S = Bᵀ Ω² J B, one product per basis vector (which also writes the vector where the states live).
        for (int k = 0; k < r; k++)
        {
            _jacobian.Product(_basis[k], _basisStates[k], _jb[k]);
            evaluations++;
        }

        var s = new double[r * r];
        var decay = new double[r];
        for (int i = 0; i < r; i++)
        {
            decay[i] = _decay[_blockOf[i]];
            for (int k = 0; k < r; k++)
            {
                s[(i * r) + k] = PartDot(_partOf[i], _basis[i], _jb[k]);
            }
        }

        if (!s.All(double.IsFinite))
        {
            return evaluations;
        }

        var reduced = new double[r * r];
        for (int i = 0; i < r; i++)
        {
            for (int k = 0; k < r; k++)
            {
                reduced[(i * r) + k] = s[(i * r) + k] - (i == k ? decay[i] : 0.0);
            }
        }

        if (r > 0)
        {
            double sigma = Matrix<double>.Build.Dense(r, r, (i, k) => reduced[(i * r) + k]).Evd().EigenValues.Max(e => e.Real);
            if (sigma > 0)
            {
                for (int i = 0; i < r; i++)
                {
                    s[(i * r) + i] -= sigma;
                    reduced[(i * r) + i] -= sigma;
                }
            }
        }

        Coupling = s;
        Reduced = reduced;
        BasisDecay = decay;
        Dimension = r;
        return evaluations;
    }

    /// <summary>Σ_i w_i x_i y_i over part g, in index order (reproducible).</summary>
    private double PartDot(int g, double[] x, double[] yv)
    {
        ReadOnlySpan<double> w = _jacobian.Weights;
        double s = 0;
        foreach ((int start, int end) in _parts[g])
        {
            for (int i = start; i < end; i++)
            {
                s += w[i] * x[i] * yv[i];
            }
        }

        return s;
    }
}
