using MathNet.Numerics.Providers.LinearAlgebra;

namespace ImplicitBias.Flow.Core.Geometry;

/// <summary>
/// Reusable buffers for the exact polar factor U Vᵀ of rows×cols matrices (Muon's orthogonalization,
/// Definition C.26), so that a flow evaluating it at every right-hand side allocates nothing of its own.
/// Not thread-safe: use one workspace per thread.
/// </summary>
/// <remarks>
/// With n = max(rows, cols) and k = min(rows, cols) it holds n·k + 5k² + 2k doubles. The tall matrix T (G or
/// Gᵀ) is factored T = Q R by MathNet's thin QR (Q overwrites the n×k buffer), then the k×k triangle R by
/// MathNet's SVD, R = U Σ Vᵀ, so polar(T) = Q · U Vᵀ. Both go through the raw-array provider interface
/// (<see cref="LinearAlgebraControl.Provider"/>). MathNet's managed provider still allocates internal work
/// copies in its thin QR, about 2·n·k doubles per call (measured: ~100 kB for a 20×300 matrix); a
/// hand-written Householder QR would remove that.
/// </remarks>
public sealed class PolarFactorWorkspace
{
    private readonly double[] _q;
    private readonly double[] _r;
    private readonly double[] _tau;
    private readonly double[] _s;
    private readonly double[] _u;
    private readonly double[] _vt;
    private readonly double[] _pr;

    /// <summary>Creates buffers for <paramref name="rows"/>×<paramref name="cols"/> matrices.</summary>
    public PolarFactorWorkspace(int rows, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cols);
        Rows = rows;
        Cols = cols;
        int n = Math.Max(rows, cols), k = Math.Min(rows, cols);
        _q = new double[n * k];
        _r = new double[k * k];
        _tau = new double[k];
        _s = new double[k];
        _u = new double[k * k];
        _vt = new double[k * k];
        _pr = new double[k * k];
    }

    /// <summary>Number of rows of the matrices this workspace serves.</summary>
    public int Rows { get; }

    /// <summary>Number of columns of the matrices this workspace serves.</summary>
    public int Cols { get; }

    /// <summary>
    /// Writes U Vᵀ of the reduced SVD of the row-major matrix <paramref name="g"/> into
    /// <paramref name="output"/> (same contract as <see cref="MatrixGeometry.PolarFactor"/>).
    /// </summary>
    public void Compute(ReadOnlySpan<double> g, Span<double> output)
    {
        int rows = Rows, cols = Cols;
        if (g.Length != rows * cols || output.Length != rows * cols)
        {
            throw new ArgumentException($"Expected {rows}×{cols} = {rows * cols} values, got input {g.Length} and output {output.Length}.");
        }

        if (rows == 1 || cols == 1)
        {
            L2Norm.Instance.SteepestDirection(g, output);
            return;
        }

        bool tall = rows >= cols;
        int n = tall ? rows : cols, k = tall ? cols : rows;

        // T (n×k, column-major): T = G when tall, T = Gᵀ when wide; both read G row-major.
        bool zero = true;
        for (int j = 0; j < k; j++)
        {
            for (int i = 0; i < n; i++)
            {
                double v = tall ? g[(i * cols) + j] : g[(j * cols) + i];
                _q[i + (j * n)] = v;
                zero &= v == 0;
            }
        }

        if (zero)
        {
            output.Clear();
            return;
        }

        ILinearAlgebraProvider provider = LinearAlgebraControl.Provider;
        provider.ThinQRFactor(_q, n, k, _r, _tau);
        provider.SingularValueDecomposition(true, _r, k, k, _s, _u, _vt);

        double smax = 0;
        for (int a = 0; a < k; a++)
        {
            smax = Math.Max(smax, _s[a]);
        }

        // P_R = Σ_{σ_a > cutoff} u_a v_aᵀ (k×k, column-major): the reduced SVD drops zero singular values.
        double cutoff = n * 2.220446049250313e-16 * smax;
        Array.Clear(_pr);
        for (int a = 0; a < k; a++)
        {
            if (!(_s[a] > cutoff))
            {
                continue;
            }

            for (int j = 0; j < k; j++)
            {
                double vja = _vt[a + (j * k)];
                for (int i = 0; i < k; i++)
                {
                    _pr[i + (j * k)] += _u[i + (a * k)] * vja;
                }
            }
        }

        // polar(T) = Q P_R (n×k); G = T (tall) or G = Tᵀ (wide).
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < k; j++)
            {
                double s = 0;
                for (int l = 0; l < k; l++)
                {
                    s += _q[i + (l * n)] * _pr[l + (j * k)];
                }

                if (tall)
                {
                    output[(i * cols) + j] = s;
                }
                else
                {
                    output[(j * cols) + i] = s;
                }
            }
        }
    }
}
