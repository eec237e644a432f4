using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Algorithms.ScanReduceOperations;
using ILGPU.Runtime;
using ImplicitBias.Flow.Core.State;

namespace ImplicitBias.Flow.Kernels;

/// <summary>
/// The Runge–Kutta steppers' vector operations over device buffers, so that a solve keeps θ, m, v and the
/// stages in device memory and moves only scalars (the error norm's sum, the per-block maxima, the finiteness flag)
/// to the host per step. Combine is a sequence of element-wise kernels over per-block coefficients (one launch per
/// stage with a nonzero coefficient, summed in stage order as host arithmetic does); the two reductions of the
/// error norm (<see cref="BlockMaxAbs"/>, <see cref="ScaledSquareSum"/>) and AllFinite end in ILGPU.Algorithms
/// reductions. Only <see cref="Allocate"/> allocates, except that the coefficient table
/// grows (once) the first time a tableau with more stages than any before is combined.
/// </summary>
public sealed class IlgpuStateAlgebra : IStateAlgebra<DeviceState>, IDisposable
{
    private const int InitialStageCapacity = 16;

    private readonly Accelerator _accelerator;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _blockOf;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> _blockParameters;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> _blockMax;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> _scratch;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> _flags;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> _scalar; // [max of flags, sum of terms]
    private readonly double[] _hostScalar = new double[2];
    private readonly double[] _hostParameters; // (rtol, atol, 0) per block, as last uploaded
    private MemoryBuffer1D<double, Stride1D.Dense> _coefficients;
    private double[] _hostCoefficients;
    private int _stageCapacity;
    private bool _disposed;

    private readonly Action<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<int>, int, int, int> _combineFirst;
    private readonly Action<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<int>, int, int> _combineAdd;
    private readonly Action<Index1D, ArrayView<double>, ArrayView<double>> _abs;
    private readonly Action<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<int>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>> _errorTerms;
    private readonly Action<Index1D, ArrayView<double>, ArrayView<double>> _nonFinite;
    private readonly Reduction<double, Stride1D.Dense> _max;
    private readonly Reduction<double, Stride1D.Dense> _sum;

    /// <summary>Prepares the kernels and the per-block tables of <paramref name="layout"/> on <paramref name="accelerator"/> (not owned).</summary>
    public IlgpuStateAlgebra(Accelerator accelerator, StateLayout layout)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        ArgumentNullException.ThrowIfNull(layout);
        _accelerator = accelerator;
        Layout = layout;

        var blockOf = new int[layout.Length];
        for (int b = 0; b < layout.BlockCount; b++)
        {
            blockOf.AsSpan(layout.Offset(b), layout.Blocks[b].Length).Fill(b);
        }

        // The tolerances are the controller's and arrive with each ScaledSquareSum; NaN forces the first upload.
        _hostParameters = new double[3 * layout.BlockCount];
        _hostParameters.AsSpan().Fill(double.NaN);
        _blockOf = accelerator.Allocate1D(blockOf);
        _blockParameters = accelerator.Allocate1D<double>(_hostParameters.Length);
        _blockMax = accelerator.Allocate1D<double>(layout.BlockCount);
        _blockMax.MemSetToZero();
        _scratch = accelerator.Allocate1D<double>(layout.Length);
        _flags = accelerator.Allocate1D<double>(layout.Length);
        _scalar = accelerator.Allocate1D<double>(2);
        _stageCapacity = InitialStageCapacity;
        _hostCoefficients = new double[layout.BlockCount * (_stageCapacity + 1)];
        _coefficients = accelerator.Allocate1D<double>(_hostCoefficients.Length);

        _combineFirst = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<int>, int, int, int>(StateKernels.CombineFirst);
        _combineAdd = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<int>, int, int>(StateKernels.CombineAdd);
        _abs = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>>(StateKernels.Abs);
        _errorTerms = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<int>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>>(StateKernels.ErrorTerms);
        _nonFinite = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>>(StateKernels.NonFiniteFlags);
        _max = accelerator.CreateReduction<double, Stride1D.Dense, MaxDouble>();
        _sum = accelerator.CreateReduction<double, Stride1D.Dense, AddDouble>();
    }

    /// <inheritdoc />
    public StateLayout Layout { get; }

    /// <summary>The accelerator the states live on.</summary>
    public Accelerator Accelerator => _accelerator;

    /// <inheritdoc />
    public DeviceState Allocate() => new(_accelerator, Layout.Length);

    /// <inheritdoc />
    public void Copy(DeviceState source, DeviceState destination)
    {
        Check(source);
        Check(destination);
        source.View.CopyTo(destination.View);
    }

    /// <inheritdoc />
    /// <remarks>
    /// As in the host algebra, y is always scaled (0 · NaN stays NaN) and a zero coefficient skips its stage in
    /// that block, so an unused stage holding NaN from a rejected step does not poison the result; a stage whose
    /// coefficient is zero in every block is not even launched.
    /// </remarks>
    public void Combine(DeviceState y, ReadOnlySpan<double> yScale, ReadOnlySpan<double> coefficients, ReadOnlySpan<DeviceState> stages, bool perBlock, DeviceState destination)
    {
        Check(y);
        Check(destination);
        int blocks = Layout.BlockCount;
        int s = stages.Length;
        int rows = perBlock ? blocks : 1;
        if (yScale.Length != rows || coefficients.Length != rows * s)
        {
            throw new ArgumentException($"Combine needs {rows} y-scales and {rows * s} coefficients, not {yScale.Length} and {coefficients.Length}.");
        }

        foreach (DeviceState stage in stages)
        {
            Check(stage);
            if (ReferenceEquals(stage, destination))
            {
                throw new ArgumentException("The destination of Combine may alias y but no stage.", nameof(destination));
            }
        }

        EnsureStageCapacity(s);
        int stride = s + 1;
        for (int b = 0; b < blocks; b++)
        {
            int r = perBlock ? b : 0;
            _hostCoefficients[b * stride] = yScale[r];
            for (int j = 0; j < s; j++)
            {
                _hostCoefficients[(b * stride) + 1 + j] = coefficients[(r * s) + j];
            }
        }

        ((ArrayView<double>)_coefficients.View).SubView(0, blocks * stride).CopyFromCPU(_hostCoefficients.AsSpan(0, blocks * stride));

        int length = Layout.Length;
        bool first = true;
        for (int j = 0; j < s; j++)
        {
            if (!StageUsed(coefficients, j, s, rows))
            {
                continue;
            }

            if (first)
            {
                _combineFirst(length, destination.View, y.View, stages[j].View, _coefficients.View, _blockOf.View, stride, 1 + j, 1);
                first = false;
            }
            else
            {
                _combineAdd(length, destination.View, stages[j].View, _coefficients.View, _blockOf.View, stride, 1 + j);
            }
        }

        if (first)
        {
            // No stage contributes: destination = yScale · y.
            _combineFirst(length, destination.View, y.View, y.View, _coefficients.View, _blockOf.View, stride, 0, 0);
        }
    }

    /// <inheritdoc />
    public void BlockMaxAbs(DeviceState y, ReadOnlySpan<bool> blocks, Span<double> destination)
    {
        Check(y);
        AcceleratorStream stream = _accelerator.DefaultStream;
        _abs(Layout.Length, y.View, _scratch.View);
        for (int b = 0; b < Layout.BlockCount; b++)
        {
            if (blocks[b])
            {
                _max(stream, _scratch.View.SubView(Layout.Offset(b), Layout.Blocks[b].Length), _blockMax.View.SubView(b, 1));
            }
        }

        Span<double> maxima = stackalloc double[Layout.BlockCount];
        ((ArrayView<double>)_blockMax.View).CopyToCPU(maxima);
        for (int b = 0; b < Layout.BlockCount; b++)
        {
            if (blocks[b])
            {
                destination[b] = maxima[b];
            }
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// One element-wise kernel and one sum over the whole state (the block scale arrives already folded into
    /// <paramref name="absTol"/>, so the kernel's κ slot is 0); the per-block tolerances are uploaded only when
    /// they differ from the last call's.
    /// </remarks>
    public double ScaledSquareSum(DeviceState y0, DeviceState y1, DeviceState error, ReadOnlySpan<double> relTol, ReadOnlySpan<double> absTol)
    {
        Check(y0);
        Check(y1);
        Check(error);
        bool changed = false;
        for (int b = 0; b < Layout.BlockCount; b++)
        {
            changed |= _hostParameters[3 * b] != relTol[b] || _hostParameters[(3 * b) + 1] != absTol[b];
            _hostParameters[3 * b] = relTol[b];
            _hostParameters[(3 * b) + 1] = absTol[b];
            _hostParameters[(3 * b) + 2] = 0.0;
        }

        if (changed)
        {
            ((ArrayView<double>)_blockParameters.View).CopyFromCPU(_hostParameters);
        }

        AcceleratorStream stream = _accelerator.DefaultStream;
        _errorTerms(Layout.Length, y0.View, y1.View, error.View, _blockOf.View, _blockParameters.View, _blockMax.View, _scratch.View, _flags.View);
        _max(stream, _flags.View, _scalar.View.SubView(0, 1));
        _sum(stream, _scratch.View, _scalar.View.SubView(1, 1));
        ReadScalars();
        double sum = _hostScalar[1];
        return _hostScalar[0] != 0.0 || !double.IsFinite(sum) ? double.NaN : sum;
    }

    /// <inheritdoc />
    public bool AllFinite(DeviceState y)
    {
        Check(y);
        _nonFinite(Layout.Length, y.View, _flags.View);
        _max(_accelerator.DefaultStream, _flags.View, _scalar.View.SubView(0, 1));
        ReadScalars();
        return _hostScalar[0] == 0.0;
    }

    /// <inheritdoc />
    public void Read(DeviceState source, Span<double> destination)
    {
        Check(source);
        if (destination.Length != Layout.Length)
        {
            throw new ArgumentException($"The host vector needs {Layout.Length} entries, not {destination.Length}.", nameof(destination));
        }

        source.View.CopyToCPU(destination);
    }

    /// <inheritdoc />
    public void Write(ReadOnlySpan<double> source, DeviceState destination)
    {
        Check(destination);
        if (source.Length != Layout.Length)
        {
            throw new ArgumentException($"The host vector needs {Layout.Length} entries, not {source.Length}.", nameof(source));
        }

        destination.View.CopyFromCPU(source);
    }

    /// <summary>Frees the algebra's tables and scratch (not the states it allocated, nor the accelerator).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _coefficients.Dispose();
        _scalar.Dispose();
        _flags.Dispose();
        _scratch.Dispose();
        _blockMax.Dispose();
        _blockParameters.Dispose();
        _blockOf.Dispose();
    }

    private static bool StageUsed(ReadOnlySpan<double> coefficients, int j, int s, int rows)
    {
        for (int r = 0; r < rows; r++)
        {
            if (coefficients[(r * s) + j] != 0)
            {
                return true;
            }
        }

        return false;
    }

    private void EnsureStageCapacity(int stages)
    {
        if (stages <= _stageCapacity)
        {
            return;
        }

        _stageCapacity = Math.Max(stages, 2 * _stageCapacity);
        _coefficients.Dispose();
        _hostCoefficients = new double[Layout.BlockCount * (_stageCapacity + 1)];
        _coefficients = _accelerator.Allocate1D<double>(_hostCoefficients.Length);
    }

    private void ReadScalars() => ((ArrayView<double>)_scalar.View).CopyToCPU(_hostScalar.AsSpan());

    private void Check(DeviceState state)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(state);
        if (state.Length != Layout.Length)
        {
            throw new ArgumentException($"State of length {state.Length} does not fit the layout ({Layout.Length}).");
        }
    }
}
