using ImplicitBias.Flow.Core.Threading;
namespace ImplicitBias.Flow.Models.Evaluation;

/// <summary>
/// C = A·B for square n × n matrices with the evaluator's own kernel (<see cref="PackedGemm"/>), packing
/// included and split over the same threads, to measure what this machine's cores do with it: the "peak"
/// against which <c>ibflow bench</c> reports a gradient's efficiency. Blocked as in GotoBLAS: the inner dimension
/// is cut into slices of <see cref="InnerSlice"/>; 20 ten-row panels of a slice of A (400 KB) stay in L2 while
/// each 16-column panel of B (32 KB, in L1) meets them all. C is kept in the kernel's blocked layout (16-column
/// blocks, row by row), as the evaluator keeps its own products, so that adding a slice's tile to C is one
/// contiguous read-modify-write.
/// </summary>
public sealed unsafe class SquareGemm
{
    /// <summary>Length of an inner-dimension slice.</summary>
    public const int InnerSlice = 256;

    private const int PanelGroup = 20;
    private const int Mr = PackedGemm.RowsPerTile;
    private const int Ns = PackedGemm.ColumnsPerTile;
    private readonly int _n;
    private readonly int _panels;
    private readonly int _blocks;
    private readonly int _parts;
    private readonly double[] _a;
    private readonly double[] _b;
    private readonly AlignedBuffer _c;
    private readonly AlignedBuffer _aPack;
    private readonly AlignedBuffer _bPack;
    private readonly Action<int> _packBody;
    private readonly Action<int> _multiplyBody;

    /// <summary>Creates the problem with reproducible pseudo-random entries in [−1, 1).</summary>
    /// <param name="n">The size.</param>
    /// <param name="maxDegreeOfParallelism">Threads (−1: all cores).</param>
    public SquareGemm(int n, int maxDegreeOfParallelism = -1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        _n = n;
        _panels = (n + Mr - 1) / Mr;
        _blocks = (n + Ns - 1) / Ns;
        int requested = maxDegreeOfParallelism > 0 ? maxDegreeOfParallelism : Environment.ProcessorCount;
        _parts = Math.Max(1, Math.Min(Math.Min(requested, _blocks), WorkerTeam.Shared.MaxParts));
        _a = new double[n * n];
        _b = new double[n * n];
        var random = new Random.Xoshiro256StarStar(20_000_000 + (ulong)n);
        for (int k = 0; k < n * n; k++)
        {
            _a[k] = (2 * random.NextDouble()) - 1;
            _b[k] = (2 * random.NextDouble()) - 1;
        }

        _c = new AlignedBuffer(_blocks * _panels * Mr * Ns);
        _aPack = new AlignedBuffer(_panels * Mr * n);
        _bPack = new AlignedBuffer(_blocks * Ns * n);
        _packBody = PackPart;
        _multiplyBody = MultiplyPart;
    }

    /// <summary>Floating-point operations of one product, 2n³.</summary>
    public double Flops => 2.0 * _n * _n * _n;

    /// <summary>The left factor (row-major).</summary>
    public ReadOnlySpan<double> Left => _a;

    /// <summary>The right factor (row-major).</summary>
    public ReadOnlySpan<double> Right => _b;

    /// <summary>C[i, j] of the last <see cref="Run"/>.</summary>
    public double Product(int i, int j)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(i);
        ArgumentOutOfRangeException.ThrowIfNegative(j);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(i, _n);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(j, _n);
        return _c.Pointer[((((long)(j / Ns) * _panels * Mr) + i) * Ns) + (j % Ns)];
    }

    /// <summary>Packs both factors and multiplies them.</summary>
    public void Run()
    {
        WorkerTeam.Shared.Run(_parts, _packBody);
        WorkerTeam.Shared.Run(_parts, _multiplyBody);
    }

    // A by ten-row panels within each inner slice ([slice][panel][p][10]), B by 16-column blocks ([slice][block][p][16]).
    private void PackPart(int part)
    {
        int n = _n;
        for (int panel = part * _panels / _parts; panel < (part + 1) * _panels / _parts; panel++)
        {
            for (int start = 0; start < n; start += InnerSlice)
            {
                int length = Math.Min(InnerSlice, n - start);
                double* target = _aPack.Pointer + SliceOffset(start, panel, Mr, _panels);
                for (int r = 0; r < Mr && (panel * Mr) + r < n; r++)
                {
                    ReadOnlySpan<double> row = _a.AsSpan((((panel * Mr) + r) * n) + start, length);
                    for (int p = 0; p < length; p++)
                    {
                        target[(p * Mr) + r] = row[p];
                    }
                }
            }
        }

        for (int block = part * _blocks / _parts; block < (part + 1) * _blocks / _parts; block++)
        {
            int columns = Math.Min(Ns, n - (block * Ns));
            for (int start = 0; start < n; start += InnerSlice)
            {
                int length = Math.Min(InnerSlice, n - start);
                double* target = _bPack.Pointer + SliceOffset(start, block, Ns, _blocks);
                for (int p = 0; p < length; p++)
                {
                    _b.AsSpan(((start + p) * n) + (block * Ns), columns).CopyTo(new Span<double>(target + (p * Ns), columns));
                }
            }
        }
    }

    // Where panel `index` (of `count`, `width` values per inner step) of the slice starting at `start` begins.
    private long SliceOffset(int start, int index, int width, int count)
    {
        int length = Math.Min(InnerSlice, _n - start);
        return ((long)start * count * width) + ((long)index * length * width);
    }

    // Each part owns a range of 16-column blocks of C, so no two parts write the same values.
    private void MultiplyPart(int part)
    {
        int n = _n;
        int b0 = part * _blocks / _parts, b1 = (part + 1) * _blocks / _parts;
        for (int start = 0; start < n; start += InnerSlice)
        {
            int length = Math.Min(InnerSlice, n - start);
            for (int group = 0; group < _panels; group += PanelGroup)
            {
                int groupEnd = Math.Min(_panels, group + PanelGroup);
                for (int block = b0; block < b1; block++)
                {
                    double* b = _bPack.Pointer + SliceOffset(start, block, Ns, _blocks);
                    double* c = _c.Pointer + ((long)block * _panels * Mr * Ns);
                    for (int panel = group; panel < groupEnd; panel++)
                    {
                        PackedGemm.Tile(_aPack.Pointer + SliceOffset(start, panel, Mr, _panels), b, length, c + ((long)panel * Mr * Ns), accumulate: start > 0);
                    }
                }
            }
        }
    }
}
