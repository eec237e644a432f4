using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Algorithms.ScanReduceOperations;
using ILGPU.Runtime;

namespace ImplicitBias.Flow.Kernels;

/// <summary>
/// The device's one polar factor (used by <see cref="DeviceFieldPrimitives.Polar"/>): U Vᵀ of a rows × cols device
/// matrix by the Newton–Schulz iteration
/// X ← X (3I − XᵀX)/2 from X₀ = A/‖A‖_F, run on the device until the update stalls at round-off
/// (machine precision), not for a fixed few steps as Muon does in practice. Each singular value σ of X₀
/// grows by about 1.5× per step until it reaches the quadratic phase near 1, so the count grows like
/// log_{1.5}(‖A‖_F/σ_min): exact singular values of zero stay zero (the reduced polar factor of the
/// nonzero part), but a nearly singular matrix needs many steps — <see cref="LastIterations"/> reports them.
/// One host read (the update norm) per step.
/// </summary>
public sealed class NewtonSchulzPolar : IDisposable
{
    private readonly Accelerator _accelerator;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> _x;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> _next;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> _gram;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> _squares;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> _scalar;
    private readonly double[] _host = new double[1];
    private readonly Action<Index1D, ArrayView<double>, ArrayView<double>> _square;
    private readonly Action<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<double>> _scale;
    private readonly Action<Index2D, ArrayView<double>, ArrayView<double>, int, int> _gramKernel;
    private readonly Action<Index2D, ArrayView<double>, ArrayView<double>, ArrayView<double>, int> _update;
    private readonly Action<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<double>> _difference;
    private readonly Reduction<double, Stride1D.Dense> _sum;

    /// <summary>Allocates the iteration's buffers for rows × cols matrices on <paramref name="accelerator"/> (not owned).</summary>
    public NewtonSchulzPolar(Accelerator accelerator, int rows, int cols, int maxIterations = 200)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cols);
        _accelerator = accelerator;
        Rows = rows;
        Cols = cols;
        MaxIterations = maxIterations;
        _x = accelerator.Allocate1D<double>(rows * cols);
        _next = accelerator.Allocate1D<double>(rows * cols);
        _gram = accelerator.Allocate1D<double>(cols * cols);
        _squares = accelerator.Allocate1D<double>(rows * cols);
        _scalar = accelerator.Allocate1D<double>(1);
        _square = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>>(Square);
        _scale = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<double>>(ScaleByInverseRoot);
        _gramKernel = accelerator.LoadAutoGroupedStreamKernel<Index2D, ArrayView<double>, ArrayView<double>, int, int>(Gram);
        _update = accelerator.LoadAutoGroupedStreamKernel<Index2D, ArrayView<double>, ArrayView<double>, ArrayView<double>, int>(Update);
        _difference = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<double>>(Difference);
        _sum = accelerator.CreateReduction<double, Stride1D.Dense, AddDouble>();
    }

    /// <summary>Number of rows.</summary>
    public int Rows { get; }

    /// <summary>Number of columns.</summary>
    public int Cols { get; }

    /// <summary>The iteration stops here even if it has not stalled.</summary>
    public int MaxIterations { get; }

    /// <summary>Newton–Schulz steps taken by the last <see cref="Compute"/>.</summary>
    public int LastIterations { get; private set; }

    /// <summary>The Frobenius norm of the last update, ‖X_{k+1} − X_k‖_F, of the last <see cref="Compute"/>.</summary>
    public double LastUpdateNorm { get; private set; }

    /// <summary>destination ← U Vᵀ of source (row-major device views of Rows × Cols); a zero matrix gives zero.</summary>
    public void Compute(ArrayView<double> source, ArrayView<double> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int n = Rows * Cols;
        if (source.Length != n || destination.Length != n)
        {
            throw new ArgumentException($"Both views need {Rows}×{Cols} = {n} entries.");
        }

        AcceleratorStream stream = _accelerator.DefaultStream;
        _square(n, source, _squares.View);
        _sum(stream, _squares.View, _scalar.View);
        if (ReadScalar() == 0)
        {
            destination.MemSetToZero();
            LastIterations = 0;
            LastUpdateNorm = 0;
            return;
        }

        _scale(n, source, _scalar.View, _x.View);
        ArrayView<double> x = _x.View;
        ArrayView<double> next = _next.View;
        double previous = double.PositiveInfinity;
        int iterations = 0;
        double update = 0;
        while (iterations < MaxIterations)
        {
            _gramKernel(new Index2D(Cols, Cols), x, _gram.View, Rows, Cols);
            _update(new Index2D(Rows, Cols), x, _gram.View, next, Cols);
            _difference(n, next, x, _squares.View);
            _sum(stream, _squares.View, _scalar.View);
            update = Math.Sqrt(ReadScalar());
            iterations++;
            (x, next) = (next, x);
            // Machine precision: the update reaches round-off of X (‖X‖_F ≤ √min(r, c)) or stops shrinking
            // there; above 1e-8 the quadratic phase is still under way, so a stall there is not the end.
            double roundOff = 4e-16 * Math.Sqrt(Math.Min(Rows, Cols));
            if (update <= roundOff || (update < 1e-8 && update >= previous))
            {
                break;
            }

            previous = update;
        }

        LastIterations = iterations;
        LastUpdateNorm = update;
        x.CopyTo(destination);
    }

    /// <summary>Frees the buffers (not the accelerator).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _scalar.Dispose();
        _squares.Dispose();
        _gram.Dispose();
        _next.Dispose();
        _x.Dispose();
    }

    private bool _disposed;

    private double ReadScalar()
    {
        ((ArrayView<double>)_scalar.View).CopyToCPU(_host.AsSpan());
        return _host[0];
    }

    private static void Square(Index1D i, ArrayView<double> a, ArrayView<double> squares) => squares[i] = a[i] * a[i];

    private static void ScaleByInverseRoot(Index1D i, ArrayView<double> a, ArrayView<double> sumOfSquares, ArrayView<double> x) =>
        x[i] = a[i] / Math.Sqrt(sumOfSquares[0]);

    /// <summary>gram[p, q] = Σ_r X[r, p] X[r, q] (cols × cols).</summary>
    private static void Gram(Index2D index, ArrayView<double> x, ArrayView<double> gram, int rows, int cols)
    {
        double s = 0;
        for (int r = 0; r < rows; r++)
        {
            s += x[(r * cols) + index.X] * x[(r * cols) + index.Y];
        }

        gram[(index.X * cols) + index.Y] = s;
    }

    /// <summary>next[r, q] = 1.5 X[r, q] − 0.5 Σ_p X[r, p] gram[p, q].</summary>
    private static void Update(Index2D index, ArrayView<double> x, ArrayView<double> gram, ArrayView<double> next, int cols)
    {
        int r = index.X;
        int q = index.Y;
        double s = 0;
        for (int p = 0; p < cols; p++)
        {
            s += x[(r * cols) + p] * gram[(p * cols) + q];
        }

        next[(r * cols) + q] = (1.5 * x[(r * cols) + q]) - (0.5 * s);
    }

    private static void Difference(Index1D i, ArrayView<double> a, ArrayView<double> b, ArrayView<double> squares)
    {
        double d = a[i] - b[i];
        squares[i] = d * d;
    }
}
