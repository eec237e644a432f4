using System.Numerics;

namespace ImplicitBias.Flow.Core.State;

/// <summary>
/// <see cref="IStateAlgebra{TState}"/> on host arrays. The loops use <see cref="Vector{T}"/> (AVX2/AVX-512 where the
/// machine has it) with a scalar tail, read from spans and write to spans, and allocate nothing.
/// </summary>
public sealed class HostStateAlgebra : IStateAlgebra<HostState>, IHostStateArrays<HostState>
{
    /// <summary>Creates the algebra for states of the given layout.</summary>
    public HostStateAlgebra(StateLayout layout) => Layout = layout ?? throw new ArgumentNullException(nameof(layout));

    /// <inheritdoc />
    public StateLayout Layout { get; }

    /// <inheritdoc />
    public HostState Allocate() => new(Layout.Length);

    /// <inheritdoc />
    public double[] Values(HostState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        return state.Values;
    }

    /// <inheritdoc />
    public void Copy(HostState source, HostState destination)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        source.Values.AsSpan().CopyTo(destination.Values);
    }

    /// <inheritdoc />
    public void Combine(HostState y, ReadOnlySpan<double> yScale, ReadOnlySpan<double> coefficients, ReadOnlySpan<HostState> stages, bool perBlock, HostState destination)
    {
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(destination);
        int blocks = Layout.BlockCount;
        for (int b = 0; b < blocks; b++)
        {
            int offset = Layout.Offset(b);
            int length = Layout.Offset(b + 1) - offset;
            double scale = perBlock ? yScale[b] : yScale[0];
            ReadOnlySpan<double> row = perBlock ? coefficients.Slice(b * stages.Length, stages.Length) : coefficients[..stages.Length];
            Span<double> dest = destination.Values.AsSpan(offset, length);
            Scale(y.Values.AsSpan(offset, length), scale, dest);
            for (int j = 0; j < stages.Length; j++)
            {
                if (row[j] != 0.0)
                {
                    AddScaled(stages[j].Values.AsSpan(offset, length), row[j], dest);
                }
            }
        }
    }

    /// <inheritdoc />
    public void BlockMaxAbs(HostState y, ReadOnlySpan<bool> blocks, Span<double> destination)
    {
        ArgumentNullException.ThrowIfNull(y);
        for (int b = 0; b < Layout.BlockCount; b++)
        {
            if (blocks[b])
            {
                destination[b] = MaxAbs(y.Values.AsSpan(Layout.Offset(b), Layout.Blocks[b].Length));
            }
        }
    }

    /// <inheritdoc />
    public double ScaledSquareSum(HostState y0, HostState y1, HostState error, ReadOnlySpan<double> relTol, ReadOnlySpan<double> absTol)
    {
        ArgumentNullException.ThrowIfNull(y0);
        ArgumentNullException.ThrowIfNull(y1);
        ArgumentNullException.ThrowIfNull(error);
        double sum = 0.0;
        for (int b = 0; b < Layout.BlockCount; b++)
        {
            int offset = Layout.Offset(b);
            int length = Layout.Blocks[b].Length;
            sum += ScaledSquares(y0.Values.AsSpan(offset, length), y1.Values.AsSpan(offset, length), error.Values.AsSpan(offset, length), absTol[b], relTol[b]);
        }

        // An infinite y makes its scale infinite and its term 0; the contract says NaN for any
        // non-finite input, so that the step is rejected rather than accepted with ∞ in it.
        return double.IsFinite(sum) && AllFinite(y0) && AllFinite(y1) ? sum : double.NaN;
    }

    /// <inheritdoc />
    public bool AllFinite(HostState y)
    {
        ArgumentNullException.ThrowIfNull(y);
        ReadOnlySpan<double> v = y.Values;
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            // x − x is 0 for finite x and NaN for ±∞ or NaN, so one comparison per lane checks finiteness.
            for (; i <= v.Length - Vector<double>.Count; i += Vector<double>.Count)
            {
                var x = new Vector<double>(v[i..]);
                if (!Vector.EqualsAll(x - x, Vector<double>.Zero))
                {
                    return false;
                }
            }
        }

        for (; i < v.Length; i++)
        {
            if (!double.IsFinite(v[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <inheritdoc />
    public void Read(HostState source, Span<double> destination)
    {
        ArgumentNullException.ThrowIfNull(source);
        source.Values.AsSpan().CopyTo(destination);
    }

    /// <inheritdoc />
    public void Write(ReadOnlySpan<double> source, HostState destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        source.CopyTo(destination.Values);
    }

    private static void Scale(ReadOnlySpan<double> x, double a, Span<double> dest)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var va = new Vector<double>(a);
            for (; i <= x.Length - Vector<double>.Count; i += Vector<double>.Count)
            {
                (va * new Vector<double>(x[i..])).CopyTo(dest[i..]);
            }
        }

        for (; i < x.Length; i++)
        {
            dest[i] = a * x[i];
        }
    }

    private static void AddScaled(ReadOnlySpan<double> x, double a, Span<double> dest)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var va = new Vector<double>(a);
            for (; i <= x.Length - Vector<double>.Count; i += Vector<double>.Count)
            {
                (new Vector<double>(dest[i..]) + (va * new Vector<double>(x[i..]))).CopyTo(dest[i..]);
            }
        }

        for (; i < x.Length; i++)
        {
            dest[i] += a * x[i];
        }
    }

    private static double MaxAbs(ReadOnlySpan<double> x)
    {
        double max = 0.0;
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            Vector<double> vmax = Vector<double>.Zero;
            for (; i <= x.Length - Vector<double>.Count; i += Vector<double>.Count)
            {
                vmax = Vector.Max(vmax, Vector.Abs(new Vector<double>(x[i..])));
            }

            for (int k = 0; k < Vector<double>.Count; k++)
            {
                max = Math.Max(max, vmax[k]);
            }
        }

        for (; i < x.Length; i++)
        {
            max = Math.Max(max, Math.Abs(x[i]));
        }

        return max;
    }

    private static double ScaledSquares(ReadOnlySpan<double> y0, ReadOnlySpan<double> y1, ReadOnlySpan<double> e, double atol, double rtol)
    {
        double sum = 0.0;
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vatol = new Vector<double>(atol);
            var vrtol = new Vector<double>(rtol);
            Vector<double> acc = Vector<double>.Zero;
            for (; i <= e.Length - Vector<double>.Count; i += Vector<double>.Count)
            {
                Vector<double> sc = vatol + (vrtol * Vector.Max(Vector.Abs(new Vector<double>(y0[i..])), Vector.Abs(new Vector<double>(y1[i..]))));
                Vector<double> r = new Vector<double>(e[i..]) / sc;
                acc += r * r;
            }

            sum = Vector.Sum(acc);
        }

        for (; i < e.Length; i++)
        {
            double sc = atol + (rtol * Math.Max(Math.Abs(y0[i]), Math.Abs(y1[i])));
            double r = e[i] / sc;
            sum += r * r;
        }

        return sum;
    }
}
