using System.Numerics.Tensors;

namespace ImplicitBias.Flow.Flows.Discrete;

/// <summary>How the discrete Muon / SpectralGD step computes the polar factor U Vᵀ of a matrix.</summary>
public enum PolarMethod
{
    /// <summary>The exact U Vᵀ of the reduced SVD (MathNet), as the paper studies (docs/mathematics.md §2).</summary>
    Exact,

    /// <summary>The quintic Newton–Schulz iteration used in practice (see <see cref="NewtonSchulz"/>).</summary>
    NewtonSchulz,
}

/// <summary>
/// The Newton–Schulz iteration that practical Muon uses in place of the exact U Vᵀ (docs/mathematics.md §4): X ← M/‖M‖_F, then
/// <see cref="Steps"/> times X ← a X + (b A + c A²) X with A = X Xᵀ and (a, b, c) = (3.4445, −4.7750, 2.0315),
/// iterating on the orientation with fewer rows (a tall matrix is transposed, iterated, and transposed back) so A
/// is the smaller Gram matrix.
/// </summary>
/// <remarks>
/// The iteration maps each singular value s of X through p(s) = a s + b s³ + c s⁵ and leaves the singular vectors
/// alone. These coefficients are chosen to push small singular values up fast (p′(0) = a), not to converge: 1 is
/// not a fixed point (p(1) = 0.701), and after 5 steps every singular value that starts in [2e-3, 1] (relative to
/// ‖M‖_F, which bounds them all) lands in [0.6818, 1.2024] (computed by iterating p on a fine grid). Hence
/// ‖NS(M) − U Vᵀ‖_F / ‖U Vᵀ‖_F ≤ 0.32 whenever every nonzero singular value of M is at least 2e-3 ‖M‖_F.
/// A 1 × k row (the output layer treated as a matrix, Sec. 6) has the single singular value 1 after scaling,
/// so it comes out as p⁵(1) ≈ 0.696 · u/‖u‖₂. Allocates only in the constructor.
/// </remarks>
public sealed class NewtonSchulz
{
    /// <summary>Coefficient a of the quintic.</summary>
    public const double A = 3.4445;

    /// <summary>Coefficient b of the quintic.</summary>
    public const double B = -4.7750;

    /// <summary>Coefficient c of the quintic.</summary>
    public const double C = 2.0315;

    /// <summary>The number of steps used in practice.</summary>
    public const int DefaultSteps = 5;

    private readonly bool _transpose;
    private readonly int _p;
    private readonly int _q;
    private readonly double[] _x;
    private readonly double[] _next;
    private readonly double[] _gram;
    private readonly double[] _poly;

    /// <summary>Creates the iteration for <paramref name="rows"/> × <paramref name="cols"/> matrices.</summary>
    public NewtonSchulz(int rows, int cols, int steps = DefaultSteps)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(cols, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(steps);
        Rows = rows;
        Cols = cols;
        Steps = steps;
        _transpose = rows > cols;
        _p = Math.Min(rows, cols);
        _q = Math.Max(rows, cols);
        _x = new double[_p * _q];
        _next = new double[_p * _q];
        _gram = new double[_p * _p];
        _poly = new double[_p * _p];
    }

    /// <summary>Rows of the input matrix.</summary>
    public int Rows { get; }

    /// <summary>Columns of the input matrix.</summary>
    public int Cols { get; }

    /// <summary>Number of iterations.</summary>
    public int Steps { get; }

    /// <summary>
    /// output ← NS(M) for the row-major <paramref name="matrix"/>; 0 for a zero (or non-finite) matrix.
    /// <paramref name="output"/> may alias <paramref name="matrix"/>. Does not allocate.
    /// </summary>
    public void Orthogonalize(ReadOnlySpan<double> matrix, Span<double> output)
    {
        int n = Rows * Cols;
        if (matrix.Length != n || output.Length != n)
        {
            throw new ArgumentException($"Expected {Rows}×{Cols} = {n} values; got {matrix.Length} in and {output.Length} out.");
        }

        // ‖M‖_F computed on M/max|M| so that neither tiny nor huge entries under- or overflow when squared.
        double largest = Math.Abs(TensorPrimitives.MaxMagnitude(matrix));
        if (largest == 0 || !double.IsFinite(largest))
        {
            output.Clear();
            return;
        }

        double norm = 0;
        for (int i = 0; i < n; i++)
        {
            double r = matrix[i] / largest;
            norm += r * r;
        }

        // X (p × q, row-major) = M/‖M‖_F in the orientation with fewer rows.
        double inv = 1 / (largest * Math.Sqrt(norm));
        if (_transpose)
        {
            for (int r = 0; r < Rows; r++)
            {
                for (int c = 0; c < Cols; c++)
                {
                    _x[(c * _q) + r] = matrix[(r * Cols) + c] * inv;
                }
            }
        }
        else
        {
            TensorPrimitives.Multiply(matrix, inv, _x);
        }

        int p = _p, q = _q;
        for (int step = 0; step < Steps; step++)
        {
            // G = X Xᵀ (symmetric p × p).
            for (int i = 0; i < p; i++)
            {
                ReadOnlySpan<double> xi = _x.AsSpan(i * q, q);
                for (int j = 0; j <= i; j++)
                {
                    double dot = TensorPrimitives.Dot(xi, _x.AsSpan(j * q, q));
                    _gram[(i * p) + j] = dot;
                    _gram[(j * p) + i] = dot;
                }
            }

            // P = b G + c G² (G symmetric, so (G²)_ij = ⟨G_i, G_j⟩ over rows).
            for (int i = 0; i < p; i++)
            {
                ReadOnlySpan<double> gi = _gram.AsSpan(i * p, p);
                for (int j = 0; j <= i; j++)
                {
                    double value = (B * _gram[(i * p) + j]) + (C * TensorPrimitives.Dot(gi, _gram.AsSpan(j * p, p)));
                    _poly[(i * p) + j] = value;
                    _poly[(j * p) + i] = value;
                }
            }

            // X ← a X + P X.
            for (int i = 0; i < p; i++)
            {
                Span<double> row = _next.AsSpan(i * q, q);
                TensorPrimitives.Multiply(_x.AsSpan(i * q, q), A, row);
                for (int j = 0; j < p; j++)
                {
                    TensorPrimitives.MultiplyAdd(_x.AsSpan(j * q, q), _poly[(i * p) + j], row, row);
                }
            }

            _next.CopyTo(_x, 0);
        }

        if (_transpose)
        {
            for (int r = 0; r < Rows; r++)
            {
                for (int c = 0; c < Cols; c++)
                {
                    output[(r * Cols) + c] = _x[(c * _q) + r];
                }
            }
        }
        else
        {
            _x.CopyTo(output);
        }
    }
}
