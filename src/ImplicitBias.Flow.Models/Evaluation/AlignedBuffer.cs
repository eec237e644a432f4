using System.Runtime.CompilerServices;

namespace ImplicitBias.Flow.Models.Evaluation;

/// <summary>
/// A zero-initialised buffer of doubles on the pinned object heap whose first element sits on a 64-byte boundary,
/// so that the kernels' Vector512 loads never straddle two cache lines and can use raw pointers without fixing.
/// </summary>
internal sealed unsafe class AlignedBuffer
{
    private readonly double[] _storage;

    public AlignedBuffer(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        _storage = GC.AllocateArray<double>(length + 8, pinned: true);
        double* p = (double*)Unsafe.AsPointer(ref _storage[0]);
        int shift = (int)(((64 - ((nuint)p & 63)) & 63) / sizeof(double));
        Pointer = p + shift;
        Length = length;
    }

    /// <summary>The first element (64-byte aligned; stable: the array is pinned).</summary>
    public double* Pointer { get; }

    /// <summary>Number of usable values.</summary>
    public int Length { get; }

    /// <summary>The buffer as a span.</summary>
    public Span<double> Span => new(Pointer, Length);
}
