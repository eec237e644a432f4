using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Flows.Optimizers;

namespace ImplicitBias.Flow.Flows.Field;

/// <summary>
/// The field's primitives on host spans. Maps run the operator's Vector512 form where the hardware has it, else its
/// Vector256 form, else (and for the tail) the scalar form, which give the same bits; the reductions are
/// System.Numerics.Tensors' (NaN when an input is NaN). The polar factor is the host's one method, exact: the reduced
/// SVD of each matrix block in a per-block workspace (<see cref="PolarScratch"/>, over <c>PolarFactorWorkspace</c>),
/// singular values below 1e-14 of the largest carrying no direction; the discrete optimizer's exact Muon uses the same
/// workspace. Nothing allocates per call except inside that factorization (MathNet's thin QR makes its own work
/// copies, see <c>PolarFactorWorkspace</c>). A struct, so a field instantiated over it calls every primitive directly.
/// </summary>
public readonly struct HostFieldPrimitives : IFieldPrimitives<ReadOnlySpan<double>, Span<double>>
{
    private readonly PolarScratch? _polar;

    /// <summary>Primitives whose polar factor works on the matrix blocks of <paramref name="layout"/> (workspaces allocated here).</summary>
    public HostFieldPrimitives(ParameterLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        _polar = new PolarScratch(layout);
    }

    /// <summary>The element-wise primitives and reductions only (no polar factor): stateless, shared by any thread.</summary>
    public static HostFieldPrimitives Elementwise => default;

    /// <inheritdoc/>
    public ReadOnlySpan<double> Slice(ReadOnlySpan<double> x, int offset, int length) => x.Slice(offset, length);

    /// <inheritdoc/>
    public Span<double> SliceOut(Span<double> d, int offset, int length) => d.Slice(offset, length);

    /// <inheritdoc/>
    public ReadOnlySpan<double> AsInput(Span<double> d) => d;

    /// <inheritdoc/>
    public double Read(ReadOnlySpan<double> x, int index) => x[index];

    /// <inheritdoc/>
    public void Write(Span<double> d, int index, double value) => d[index] = value;

    /// <inheritdoc/>
    public void Fill(Span<double> d, double value) => d.Fill(value);

    /// <summary>d_i ← op(x_i); d may be x itself (not a shifted overlap of it).</summary>
    public void Map<TOp>(ReadOnlySpan<double> x, Span<double> d, TOp op)
        where TOp : struct, IElementwise
    {
        int n = x.Length;
        if (d.Length != n)
        {
            throw new ArgumentException($"Input of {n} values, output of {d.Length}.", nameof(d));
        }

        ref double xs = ref MemoryMarshal.GetReference(x);
        ref double ds = ref MemoryMarshal.GetReference(d);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= n - Vector512<double>.Count; i += Vector512<double>.Count)
            {
                op.Invoke(Vector512.LoadUnsafe(ref xs, (nuint)i)).StoreUnsafe(ref ds, (nuint)i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= n - Vector256<double>.Count; i += Vector256<double>.Count)
            {
                op.Invoke(Vector256.LoadUnsafe(ref xs, (nuint)i)).StoreUnsafe(ref ds, (nuint)i);
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref ds, i) = op.Invoke(Unsafe.Add(ref xs, i));
        }
    }

    /// <summary>d_i ← op(x_i, y_i); d may be x or y itself (not a shifted overlap).</summary>
    public void Map<TOp>(ReadOnlySpan<double> x, ReadOnlySpan<double> y, Span<double> d, TOp op)
        where TOp : struct, IElementwise2
    {
        int n = x.Length;
        if (y.Length != n || d.Length != n)
        {
            throw new ArgumentException($"Inputs of {n} and {y.Length} values, output of {d.Length}.", nameof(d));
        }

        ref double xs = ref MemoryMarshal.GetReference(x);
        ref double ys = ref MemoryMarshal.GetReference(y);
        ref double ds = ref MemoryMarshal.GetReference(d);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= n - Vector512<double>.Count; i += Vector512<double>.Count)
            {
                op.Invoke(Vector512.LoadUnsafe(ref xs, (nuint)i), Vector512.LoadUnsafe(ref ys, (nuint)i)).StoreUnsafe(ref ds, (nuint)i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= n - Vector256<double>.Count; i += Vector256<double>.Count)
            {
                op.Invoke(Vector256.LoadUnsafe(ref xs, (nuint)i), Vector256.LoadUnsafe(ref ys, (nuint)i)).StoreUnsafe(ref ds, (nuint)i);
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref ds, i) = op.Invoke(Unsafe.Add(ref xs, i), Unsafe.Add(ref ys, i));
        }
    }

    /// <inheritdoc/>
    public double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b) => TensorPrimitives.Dot(a, b);

    /// <inheritdoc/>
    public double Norm(ReadOnlySpan<double> x) => TensorPrimitives.Norm(x);

    /// <inheritdoc/>
    public double SumOfSquares(ReadOnlySpan<double> x) => TensorPrimitives.SumOfSquares(x);

    /// <inheritdoc/>
    public double MaxAbs(ReadOnlySpan<double> x) =>
        x.IsEmpty ? 0 : Math.Abs(TensorPrimitives.MaxMagnitude(x)); // MaxMagnitude returns the signed value, hence Abs

    /// <summary>d ← U Vᵀ of block <paramref name="block"/> by the exact SVD (see the type's remarks).</summary>
    public void Polar(int block, ReadOnlySpan<double> s, Span<double> d)
    {
        if (_polar is null)
        {
            throw new InvalidOperationException("These primitives were made without a parameter layout: they have no polar factor.");
        }

        _polar.Compute(block, s, d);
    }

    /// <summary>The definition's <see cref="IDefinedDirection"/>, on the part's spans as they are.</summary>
    public void DefinedDirection(OptimizerPart part, double t, double logLoss, ReadOnlySpan<double> gradient, ReadOnlySpan<double> momentum, double momentumLogScale, ReadOnlySpan<double> secondMoment, double secondMomentLogScale, Span<double> d)
    {
        ArgumentNullException.ThrowIfNull(part);
        IDefinedDirection direction = part.Definition.Direction
            ?? throw new InvalidOperationException($"'{part.Name}' has a Defined geometry but no direction.");
        direction.Write(new DirectionInputs(part, t, Discrete: false, logLoss, gradient, momentum, momentumLogScale, secondMoment, secondMomentLogScale), d);
    }
}
