using ImplicitBias.Flow.Core.Threading;
namespace ImplicitBias.Flow.Models.Evaluation;

/// <summary>
/// The two-pass path's products with the data in float32 (Solver:Precision = float32), for every network the fused
/// pass does not take (the paper's width 100, depth 1, anything off AVX-512).
/// </summary>
/// <remarks>
/// <para>What is float32. Only the two products with the data X: the forward z_1ᵀ = W_1 xᵀ and the backward
/// ∂W_1 = δ_1ᵀ X (at depth 1, where the first layer is the output row, ∂w = cᵀ X). Both run on
/// <see cref="PackedSingleGemm"/> tiles, 10 rows × 32 columns: forward, W_1 in float32 10-row panels against the
/// data in blocks of 32 samples ([pair][feature][32], two of the float64 path's 16-sample blocks); backward, δ_1 in
/// float32 10-unit panels against the data in blocks of 32 features ([feature block][sample][32]). The data's two
/// float32 copies are made once per evaluator; W_1 and δ_1 are rounded to float32 as they are packed. The tiles
/// come back in float64 (float32 sums over at most <see cref="PackedSingleGemm.ChunkLength"/> terms, added in
/// float64), so the activation, every deeper layer, the margins, the loss weights and the returned gradient are
/// the float64 path's own code, as on the fused pass (<see cref="SingleGemm"/>).</para>
/// <para>Why it pays. The data are 2·m·d of the 2·m·d·n_1 + … values streamed per gradient and carry all but a
/// sliver of the flops at the paper's size; in float32 an instruction does 16 multiply-adds instead of 8 and the
/// copies of X are half the bytes.</para>
/// </remarks>
public sealed unsafe partial class LossEvaluator
{
    private const int SingleColumns = PackedSingleGemm.ColumnsPerTile;

    private bool _single;
    private SingleBuffers? _singleBuffers;
    private readonly Action<int> _forwardSingleBody;

    // The two-pass float32 buffers, made on the first float32 two-pass call (not at all where the fused pass runs).
    private SingleBuffers EnsureSingle() => _singleBuffers ??= new SingleBuffers(this);

    // z_1 … z_{D−1}, a_l and f with the first layer's product in float32: W_1 in float32 panels, then the parts.
    private void ForwardSingle(ReadOnlySpan<double> theta)
    {
        SingleBuffers buffers = EnsureSingle();
        PackWeights(theta, firstLayer: 2);
        buffers.PackFirstLayer(theta.Slice(_blockOffsets[0], _n[0] * _n[1]));
        WorkerTeam.Shared.Run(_parts, _forwardSingleBody);
    }

    private void ForwardSingleBody(int part)
    {
        double* tile = _work[part].Pointer;
        int pairs = _singleBuffers!.Pairs;
        for (int pair = part * pairs / _parts; pair < (part + 1) * pairs / _parts; pair++)
        {
            ForwardPairSingle(pair, tile);
        }
    }

    // The forward pass of sample blocks 2·pair and 2·pair + 1: the first layer panel by panel in float32 (its 32
    // samples' data, 4·32·d bytes, stay in cache over the panels), then the deeper layers block by block in float64.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void ForwardPairSingle(int pair, double* tile)
    {
        SingleBuffers buffers = _singleBuffers!;
        int d = _n[0], n1 = _n[1];
        float* x = buffers.X + ((long)pair * d * SingleColumns);
        for (int panel = 0; panel < Panels(n1); panel++)
        {
            PackedSingleGemm.Tile(buffers.W + ((long)panel * d * Mr), x, d, tile);
            int rows = Math.Min(Mr, n1 - (panel * Mr));
            for (int h = 0; h < 2 && (2 * pair) + h < _blocks; h++)
            {
                int s = (2 * pair) + h;
                if (_depth == 1)
                {
                    new ReadOnlySpan<double>(tile + (h * Ns), Ns).CopyTo(new Span<double>(_f.Pointer + ((long)s * Ns), Ns));
                    continue;
                }

                for (int r = 0; r < rows; r++)
                {
                    long at = (((long)s * n1) + (panel * Mr) + r) * Ns;
                    Activate(tile + (r * SingleColumns) + (h * Ns), _zT[1]!.Pointer + at, _aT[1]!.Pointer + at);
                }
            }
        }

        for (int h = 0; h < 2 && (2 * pair) + h < _blocks && _depth >= 2; h++)
        {
            ForwardBlock((2 * pair) + h, tile, 2);
        }
    }

    // ∂W_1[rows, columns] = Σ_i δ_1[i, rows] x[i, columns] over all samples in one float32 tile (32 features).
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void FirstLayerGradientSingle(GradientTask task, double* tile)
    {
        SingleBuffers buffers = _singleBuffers!;
        int d = _n[0], n1 = _n[1];
        double* g = (double*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref _grad[_blockOffsets[0]]);
        PackedSingleGemm.Tile(buffers.Delta + ((long)task.Panel * _mPad * Mr), buffers.XB + ((long)task.ColumnBlock * _mPad * SingleColumns), _mPad, tile);
        int c0 = task.ColumnBlock * SingleColumns, columns = Math.Min(SingleColumns, d - c0);
        int rows = Math.Min(Mr, n1 - (task.Panel * Mr));
        for (int r = 0; r < rows; r++)
        {
            new ReadOnlySpan<double>(tile + (r * SingleColumns), columns).CopyTo(new Span<double>(g + (((task.Panel * Mr) + r) * d) + c0, columns));
        }
    }

    // δ_1 of sample block s into the float32 10-unit panels (the A operand of the ∂W_1 tiles).
    private void PackDeltaSingle(int s, double* delta)
    {
        float* pack = _singleBuffers!.Delta;
        int n = _n[1];
        for (int j = 0; j < n; j++)
        {
            float* target = pack + ((((long)(j / Mr) * _mPad) + (s * Ns)) * Mr) + (j % Mr);
            for (int q = 0; q < Ns; q++)
            {
                target[q * Mr] = (float)delta[(j * Ns) + q];
            }
        }
    }

    /// <summary>The float32 copies of the data and the float32 panels of the two-pass path (allocated once).</summary>
    private sealed class SingleBuffers
    {
        private readonly AlignedBuffer _x;
        private readonly AlignedBuffer _xB;
        private readonly AlignedBuffer _w;
        private readonly AlignedBuffer _delta;
        private readonly int _d;
        private readonly int _n1;

        public SingleBuffers(LossEvaluator owner)
        {
            int d = owner._n[0], m = owner._m, mPad = owner._mPad;
            _d = d;
            _n1 = owner._n[1];
            Pairs = (owner._blocks + 1) / 2;
            int featureBlocks = (d + SingleColumns - 1) / SingleColumns;
            // float32 values in double buffers, two per double (the 64-byte alignment holds); padding stays zero.
            _x = Floats((long)Pairs * d * SingleColumns);
            _xB = Floats((long)featureBlocks * mPad * SingleColumns);
            _w = Floats((long)Panels(_n1) * Mr * d);
            _delta = Floats((long)Panels(_n1) * Mr * mPad);
            X = (float*)_x.Pointer;
            XB = (float*)_xB.Pointer;
            W = (float*)_w.Pointer;
            Delta = (float*)_delta.Pointer;
            ReadOnlySpan<double> x = owner.Data.X;
            for (int i = 0; i < m; i++)
            {
                for (int f = 0; f < d; f++)
                {
                    float v = (float)x[(i * d) + f];
                    X[((((long)(i / SingleColumns) * d) + f) * SingleColumns) + (i % SingleColumns)] = v;
                    XB[((((long)(f / SingleColumns) * mPad) + i) * SingleColumns) + (f % SingleColumns)] = v;
                }
            }
        }

        /// <summary>Pairs of 16-sample blocks (the forward tiles' 32 columns; a last odd block is paired with zeros).</summary>
        public int Pairs { get; }

        /// <summary>The data, [pair][feature][32 samples].</summary>
        public float* X { get; }

        /// <summary>The data, [32-feature block][sample][32 features].</summary>
        public float* XB { get; }

        /// <summary>W_1 in 10-row panels [J][feature][10] (padding rows zero).</summary>
        public float* W { get; }

        /// <summary>δ_1 in 10-unit panels [J][sample][10]; at depth 1 the output weights c in row 0.</summary>
        public float* Delta { get; }

        // W_1 (n_1 × d, row-major) into its float32 panels, panel by panel, feature by feature (as PackWeights).
        public void PackFirstLayer(ReadOnlySpan<double> w)
        {
            fixed (double* source = w)
            {
                for (int panel = 0; panel < Panels(_n1); panel++)
                {
                    int rows = Math.Min(Mr, _n1 - (panel * Mr));
                    float* target = W + ((long)panel * _d * Mr);
                    double* rowsFrom = source + ((long)panel * Mr * _d);
                    for (int p = 0; p < _d; p++)
                    {
                        for (int r = 0; r < rows; r++)
                        {
                            target[(p * Mr) + r] = (float)rowsFrom[(r * _d) + p];
                        }
                    }
                }
            }
        }

        // Depth 1: the output weights c (m̃ values, zero on padding) as row 0 of the one δ panel.
        public void PackOutputWeights(double* c, int mPad)
        {
            for (int i = 0; i < mPad; i++)
            {
                Delta[(long)i * Mr] = (float)c[i];
            }
        }

        private static AlignedBuffer Floats(long count) => new(checked((int)((count / 2) + 1)));
    }
}
