using ILGPU;
using ILGPU.Runtime;
using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Flows.Field;
using ImplicitBias.Flow.Flows.Optimizers;

namespace ImplicitBias.Flow.Kernels;

/// <summary>
/// The field's primitives on ILGPU views (<see cref="IFieldPrimitives{TIn, TOut}"/>), so that <see cref="OptimizerField"/>
/// evaluates the flow in device memory. Maps are <see cref="FlowKernels"/> run for the operator struct (kernels loaded
/// once per accelerator, <see cref="DeviceFieldKernels"/>); the reductions end in ILGPU.Algorithms reductions whose
/// inputs never hold NaN (NaN becomes +∞, or a flag for the dot: ILGPU's atomic add and max never end on NaN), and
/// only their scalar reaches the host. The polar factor is Newton–Schulz on the device, iterated to round-off
/// (<see cref="NewtonSchulzPolar"/>, one workspace per matrix block); a matrix whose Σ s² is not finite gives NaN
/// without entering the iteration. A definition's own direction (<see cref="UpdateGeometry.Defined"/>) is written on
/// the host: the part's vectors go there and the direction comes back (one round trip per evaluation).
/// Buffers are allocated in the constructor; nothing is allocated per call.
/// </summary>
public sealed class DeviceFieldPrimitives : IFieldPrimitives<ArrayView<double>, ArrayView<double>>, IDisposable
{
    private readonly Accelerator _accelerator;
    private readonly DeviceFieldKernels _kernels;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> _terms;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> _flags;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> _scalars; // [reduction result, flag maximum]
    private readonly double[] _host = new double[2];
    private readonly NewtonSchulzPolar?[] _polar;
    private readonly double[][] _defined; // host copies of g, m̃, ṽ and d for Defined directions (empty when none)
    private bool _disposed;

    /// <summary>
    /// Primitives for vectors of at most <paramref name="length"/> entries, with a Newton–Schulz workspace for each
    /// matrix block of <paramref name="layout"/> in <paramref name="polarBlocks"/>, and host copies for Defined
    /// directions of parts of up to <paramref name="definedLength"/> entries.
    /// </summary>
    public DeviceFieldPrimitives(Accelerator accelerator, int length, ParameterLayout layout, IEnumerable<int> polarBlocks, int definedLength = 0)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(polarBlocks);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        _accelerator = accelerator;
        _kernels = DeviceFieldKernels.For(accelerator);
        _terms = accelerator.Allocate1D<double>(length);
        _flags = accelerator.Allocate1D<double>(length);
        _scalars = accelerator.Allocate1D<double>(2);
        _polar = new NewtonSchulzPolar?[layout.Blocks.Count];
        foreach (int b in polarBlocks)
        {
            ParameterBlock block = layout.Blocks[b];
            if (block.Rows > 1 && block.Cols > 1)
            {
                _polar[b] ??= new NewtonSchulzPolar(accelerator, block.Rows, block.Cols);
            }
        }

        _defined = Enumerable.Range(0, 4).Select(_ => new double[definedLength]).ToArray();
    }

    /// <inheritdoc/>
    public ArrayView<double> Slice(ArrayView<double> x, int offset, int length) => x.SubView(offset, length);

    /// <inheritdoc/>
    public ArrayView<double> SliceOut(ArrayView<double> d, int offset, int length) => d.SubView(offset, length);

    /// <inheritdoc/>
    public ArrayView<double> AsInput(ArrayView<double> d) => d;

    /// <summary>x[index], one scalar read (it waits for the stream).</summary>
    public double Read(ArrayView<double> x, int index)
    {
        x.SubView(index, 1).CopyToCPU(_host.AsSpan(0, 1));
        return _host[0];
    }

    /// <inheritdoc/>
    public void Write(ArrayView<double> d, int index, double value) => _kernels.Fill(1, d.SubView(index, 1), value);

    /// <inheritdoc/>
    public void Fill(ArrayView<double> d, double value) => _kernels.Fill((int)d.Length, d, value);

    /// <inheritdoc/>
    public void Map<TOp>(ArrayView<double> x, ArrayView<double> d, TOp op)
        where TOp : struct, IElementwise => _kernels.Map<TOp>()((int)d.Length, x, d, op);

    /// <inheritdoc/>
    public void Map<TOp>(ArrayView<double> x, ArrayView<double> y, ArrayView<double> d, TOp op)
        where TOp : struct, IElementwise2 => _kernels.Map2<TOp>()((int)d.Length, x, y, d, op);

    /// <summary>⟨a, b⟩ by a sum reduction; NaN when a product is not finite or too large to sum safely (see FlowKernels.DotTerms).</summary>
    public double Dot(ArrayView<double> a, ArrayView<double> b)
    {
        AcceleratorStream stream = _accelerator.DefaultStream;
        ArrayView<double> terms = _terms.View.SubView(0, a.Length), flags = _flags.View.SubView(0, a.Length);
        _kernels.DotTerms((int)a.Length, a, b, terms, flags);
        _kernels.Sum(stream, terms, _scalars.View.SubView(0, 1));
        _kernels.Max(stream, flags, _scalars.View.SubView(1, 1));
        ((ArrayView<double>)_scalars.View).CopyToCPU(_host.AsSpan());
        return _host[1] != 0 ? double.NaN : _host[0];
    }

    /// <summary>√Σ s_i², +∞ when any entry is NaN or infinite.</summary>
    public double Norm(ArrayView<double> x) => Math.Sqrt(SumOfSquares(x));

    /// <summary>Σ s_i², +∞ when any entry is NaN or infinite.</summary>
    public double SumOfSquares(ArrayView<double> x)
    {
        ArrayView<double> terms = _terms.View.SubView(0, x.Length);
        _kernels.Square((int)x.Length, x, terms);
        _kernels.Sum(_accelerator.DefaultStream, terms, _scalars.View.SubView(0, 1));
        return ReadResult();
    }

    /// <summary>max_i |s_i|, +∞ when any entry is NaN or infinite.</summary>
    public double MaxAbs(ArrayView<double> x)
    {
        ArrayView<double> terms = _terms.View.SubView(0, x.Length);
        _kernels.AbsoluteValue((int)x.Length, x, terms);
        _kernels.Max(_accelerator.DefaultStream, terms, _scalars.View.SubView(0, 1));
        return ReadResult();
    }

    /// <summary>d ← U Vᵀ of block <paramref name="block"/> by Newton–Schulz on the device (see the type's remarks).</summary>
    public void Polar(int block, ArrayView<double> s, ArrayView<double> d)
    {
        NewtonSchulzPolar polar = _polar[block] ?? throw new InvalidOperationException($"No Newton–Schulz workspace for parameter block {block}.");

        // Newton–Schulz sums squares with ILGPU's atomic add, which never ends on NaN: a source that is not
        // finite gives a NaN direction (the step is rejected) without entering the iteration.
        if (!double.IsFinite(SumOfSquares(s)))
        {
            Fill(d, double.NaN);
            return;
        }

        polar.Compute(s, d);
    }

    /// <summary>The definition's <see cref="IDefinedDirection"/>, on host copies of the part's vectors (one round trip).</summary>
    public void DefinedDirection(OptimizerPart part, double t, double logLoss, ArrayView<double> gradient, ArrayView<double> momentum, double momentumLogScale, ArrayView<double> secondMoment, double secondMomentLogScale, ArrayView<double> d)
    {
        ArgumentNullException.ThrowIfNull(part);
        IDefinedDirection direction = part.Definition.Direction
            ?? throw new InvalidOperationException($"'{part.Name}' has a Defined geometry but no direction.");
        int length = (int)d.Length;
        if (length > _defined[0].Length)
        {
            throw new InvalidOperationException($"These primitives hold host copies of {_defined[0].Length} entries, not {length}.");
        }

        Span<double> g = _defined[0].AsSpan(0, length), direction2 = _defined[3].AsSpan(0, length);
        Span<double> m = momentum.IsValid ? _defined[1].AsSpan(0, length) : default;
        Span<double> v = secondMoment.IsValid ? _defined[2].AsSpan(0, length) : default;
        gradient.CopyToCPU(g);
        if (momentum.IsValid)
        {
            momentum.CopyToCPU(m);
        }

        if (secondMoment.IsValid)
        {
            secondMoment.CopyToCPU(v);
        }

        direction.Write(new DirectionInputs(part, t, Discrete: false, logLoss, g, m, momentumLogScale, v, secondMomentLogScale), direction2);
        d.CopyFromCPU(direction2);
    }

    /// <summary>Frees the buffers and Newton–Schulz workspaces (not the accelerator, nor the shared kernels).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (NewtonSchulzPolar? polar in _polar)
        {
            polar?.Dispose();
        }

        _scalars.Dispose();
        _flags.Dispose();
        _terms.Dispose();
    }

    private double ReadResult()
    {
        ((ArrayView<double>)_scalars.View).SubView(0, 1).CopyToCPU(_host.AsSpan(0, 1));
        return _host[0];
    }
}
