using System.Runtime.Intrinsics;
using ImplicitBias.Flow.Models.Networks;
using ImplicitBias.Flow.Core.Threading;

namespace ImplicitBias.Flow.Models.Evaluation;

/// <summary>
/// The fused single pass of narrow networks (depth 2–3, hidden widths ≤ 20) on AVX-512.
/// </summary>
/// <remarks>
/// <para>Why. At widths 10 and 20 a gradient is two products with the data X (X·W_1ᵀ forward and δ_1ᵀX for ∂W_1)
/// of only 2·m·d·n_1 flops each, so the two-pass path (forward over all samples, then the weight-gradient tiles
/// over a feature-blocked second copy of X) streams 2 × 12.8 MB from memory for 0.06 GFLOP at the MNIST size and
/// reaches only about half the kernel's peak. Here each block of 16 samples goes forward, gets its loss weights,
/// goes backward and adds its share of every ∂W_l while its 100 KB of X is still in the core's cache: X is read
/// from memory once, and ∂W_1 is taken from the same sample-blocked copy by <see cref="NarrowGemm"/>.</para>
/// <para>The weights. The relative weights ℓ'(z_i)/L need log L, a sum over all samples, before any ∂W term. The
/// pass therefore accumulates with c̃_i = y_i exp(log|ℓ'(z_i)| − r) against a reference r (the largest
/// log|ℓ'| seen so far in the chunk, as online softmax does: when a block brings one more than
/// <see cref="RescaleSlack"/> above r, the chunk's sums are multiplied by exp(r − r_new) and r moves), and the
/// chunk's sums are multiplied by −exp(r − log L) at the end; every term is the old one up to rounding
/// (docs/mathematics.md §1: ∇L/L = Σ_i (ℓ'(z_i)/L) y_i ∇f(x_i)). Non-finite margins fall back to the two-pass
/// path, so its semantics (NaN or zero gradients) are kept exactly.</para>
/// <para>Determinism. The samples are cut into a fixed number of chunks (<see cref="MaxChunks"/>, whatever the
/// number of threads), each with its own sums, taken by whichever thread is free and combined in chunk order; so
/// the results do not depend on the threads or their timing, as on the two-pass path.</para>
/// </remarks>
public sealed unsafe partial class LossEvaluator
{
    private const int MaxChunks = 8;
    private const int MaxFusedWidth = 20;
    private const double RescaleSlack = 64;
    private const int Lane = 8; // Vector512<double>.Count

    private FusedPlan? _fused;

    /// <summary>
    /// Whether the two products with the data (X·W_1ᵀ forward and δ_1ᵀX into ∂W_1) are taken in float32
    /// (Solver:Precision = float32): on the fused pass where it applies (<see cref="SingleGemm"/>), otherwise on the
    /// two-pass path's float32 tiles (<see cref="PackedSingleGemm"/>, LossEvaluator.Single.cs). Everything else
    /// (deeper layers, margins, loss weights, the sums of the float32 partial sums, the returned gradient) stays
    /// float64. The gradient then agrees with the float64 one to float32 rounding of those products (a few 1e-6
    /// relative in the tests' cases, more for high powers at depth 3), not to 1e-12. Available for every network on
    /// every machine (Vector512, Vector256 or scalar kernels). Setting it allocates once (float32 copies of the data).
    /// </summary>
    public bool Float32
    {
        get => _single;
        set
        {
            if (value == _single)
            {
                return;
            }

            _single = value;
            if (_fused is not null)
            {
                _fused = value ? FusedPlan.CreateSingle(this) : FusedPlan.Create(this);
            }
            else if (value)
            {
                EnsureSingle();
            }

            (_tasks, _taskStart) = PlanGradientTasks();
        }
    }

    /// <summary>Where <see cref="Float32"/> is available, in words (for error messages).</summary>
    public const string Float32Scope = "float32 is available on the cpu backend (every network; Vector512, Vector256 or scalar kernels), not on the ilgpu-cpu or cuda backends";

    /// <summary>
    /// Whether <see cref="Evaluate"/> takes the fused single pass where it applies (depth 2–3, hidden widths ≤ 20,
    /// AVX-512); false forces the two-pass path, for comparisons (the results agree to rounding).
    /// </summary>
    public bool UseFusedPass { get; set; } = true;

    /// <summary>Whether the last <see cref="Evaluate"/> took the fused pass (for tests).</summary>
    internal bool LastEvaluateFused { get; private set; }

    /// <summary>How many times the last fused pass rescaled a chunk's sums (for tests of the online reference).</summary>
    internal int LastRescales
    {
        get
        {
            int total = 0;
            foreach (int count in _fused?.Rescales ?? [])
            {
                total += count;
            }

            return total;
        }
    }

    // Returns log L, or null when a margin is not finite (the caller then runs the two-pass path).
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private double? EvaluateFused(ReadOnlySpan<double> theta)
    {
        FusedPlan plan = _fused!;
        PackWeights(theta);
        PackTransposedWeights(theta);
        if (plan.Single)
        {
            plan.PackSingleWeights(theta.Slice(_blockOffsets[0], _n[0] * _n[1]), _n[1], _n[0]);
        }

        Array.Clear(_zRowValid);
        Array.Clear(plan.Claimed);
        WorkerTeam.Shared.Run(plan.Parts, plan.PassBody);
        double qmin = double.PositiveInfinity;
        for (int c = 0; c < plan.Chunks; c++)
        {
            if (plan.Bad[c])
            {
                return null;
            }

            qmin = Math.Min(qmin, plan.ChunkMinimum[c]);
        }

        MinMargin = qmin;

        // log L = M + log Σ_c S_c exp(M_c − M) from the chunks' log-sum-exp parts (M_c, S_c), in chunk order.
        double lossMax = double.NegativeInfinity;
        for (int c = 0; c < plan.Chunks; c++)
        {
            lossMax = Math.Max(lossMax, plan.LossMaximum[c]);
        }

        double lossSum = 0;
        for (int c = 0; c < plan.Chunks; c++)
        {
            // A chunk whose every ℓ(z_i) underflows to 0 adds nothing (its S_c is 0, and exp(−∞ − M) would be NaN when M = −∞).
            if (!double.IsNegativeInfinity(plan.LossMaximum[c]))
            {
                lossSum += plan.LossSum[c] * Math.Exp(plan.LossMaximum[c] - lossMax);
            }
        }

        double logLoss = double.IsPositiveInfinity(lossMax) ? lossMax : lossMax + Math.Log(lossSum);
        LogLoss = logLoss;
        if (!double.IsFinite(logLoss))
        {
            return null;
        }

        for (int c = 0; c < plan.Chunks; c++)
        {
            plan.Scale[c] = -Math.Exp(plan.Reference[c] - logLoss);
        }

        plan.LogLoss = logLoss;
        WorkerTeam.Shared.Run(_parts, plan.CombineBody);
        return logLoss;
    }

    // Forward, weights, backward and the ∂W sums of the chunks owned by `part`.
    // AggressiveOptimization here and on the per-block helpers: tiered compilation otherwise runs them as tier-0 code
    // for the first ~30 calls plus its 100 ms delay, i.e. a whole short run or benchmark window at ~1 ms per
    // gradient (measured with `ibflow bench --repeat 40`: 1.0–1.4 ms at width 10, depth 2, 0.78 ms once optimized).
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void FusedPart(int part)
    {
        FusedPlan plan = _fused!;
        double* tile = _work[part].Pointer;
        double* deltaT = plan.DeltaT[part].Pointer;
        int d = _n[0], n1 = _n[1], lanes = plan.Lanes, rows = plan.Rows;
        double* lneg = plan.LogDerivative.Pointer;
        int c;
        while ((c = plan.ClaimChunk(part)) >= 0)
        {
            plan.Gradient1[c].Span.Clear();
            plan.LaneSums[c].Span.Clear();
            double* g1 = plan.Gradient1[c].Pointer;
            double reference = double.NegativeInfinity, qmin = double.PositiveInfinity;
            bool bad = false;
            plan.Rescales[c] = 0;
            for (int s = c * _blocks / plan.Chunks; s < (c + 1) * _blocks / plan.Chunks; s++)
            {
                if (plan.Single)
                {
                    ForwardBlockSingle(s, tile);
                }
                else
                {
                    ForwardBlock(s, tile);
                }

                // Margins and log|ℓ'| of the block's samples; the chunk's reference moves up when needed.
                double* f = _f.Pointer + ((long)s * Ns);
                double blockMax = double.NegativeInfinity;
                int count = Math.Min(Ns, _m - (s * Ns));
                for (int q = 0; q < count; q++)
                {
                    int i = (s * Ns) + q;
                    double zi = _y[i] * f[q];
                    _outputs[i] = f[q];
                    _margins[i] = zi;
                    bad |= !double.IsFinite(zi);
                    qmin = Math.Min(qmin, zi);
                    double v = Loss.LogNegativeDerivative(zi);
                    lneg[i] = v;
                    blockMax = Math.Max(blockMax, v);
                }

                if (blockMax > reference + RescaleSlack)
                {
                    if (!double.IsNegativeInfinity(reference))
                    {
                        plan.Rescale(c, Math.Exp(reference - blockMax));
                        plan.Rescales[c]++;
                    }

                    reference = blockMax;
                }

                double* cs = _c.Pointer + ((long)s * Ns);
                for (int q = 0; q < Ns; q++)
                {
                    cs[q] = q < count ? _y[(s * Ns) + q] * Math.Exp(lneg[(s * Ns) + q] - reference) : 0.0;
                }

                BackwardBlock(s, tile);
                double* sums = plan.LaneSums[c].Pointer;

                // Output row: ∂w_D[i] += Σ_q c̃_q a_{D−1}[q, i]; middle layers: ∂W_l[j, i] += Σ_q δ_l[q, j] a_{l−1}[q, i].
                LaneRankUpdate(cs, 1, _aT[_depth - 1]!.Pointer + ((long)s * _n[_depth - 1] * Ns), _n[_depth - 1], sums + plan.LaneOffset[_depth]);
                for (int l = 2; l < _depth; l++)
                {
                    LaneRankUpdate(_dT[l]!.Pointer + ((long)s * _n[l] * Ns), _n[l], _aT[l - 1]!.Pointer + ((long)s * _n[l - 1] * Ns), _n[l - 1], sums + plan.LaneOffset[l]);
                }

                // ∂W_1ᵀ += X_sᵀ δ_1: δ_1 of the block as [sample][lanes] (padding lanes stay zero), then the data
                // feature group by feature group straight from the forward pass's copy.
                double* delta = _dT[1]!.Pointer + ((long)s * n1 * Ns);
                if (plan.Single)
                {
                    AccumulateSingle(s, delta, (float*)deltaT, g1);
                    continue;
                }

                for (int j = 0; j < n1; j++)
                {
                    for (int q = 0; q < Ns; q++)
                    {
                        deltaT[(q * lanes) + j] = delta[(j * Ns) + q];
                    }
                }

                double* xs = _xT.Pointer + ((long)s * d * Ns);
                // The next block's data is fetched into L2 meanwhile (the forward pass of that block then finds it there).
                double* next = s + 1 < _blocks ? xs + ((long)d * Ns) : null;
                if (next is not null)
                {
                    PrefetchBlockBuffers(s + 1);
                }

                for (int f0 = 0; f0 < d; f0 += rows)
                {
                    NarrowGemm.Accumulate(xs + ((long)f0 * Ns), deltaT, g1 + ((long)f0 * lanes), lanes);
                    if (next is not null)
                    {
                        PrefetchRows(next + ((long)f0 * Ns), Math.Min(rows, d - f0));
                    }
                }
            }

            // The chunk's part of log L = log Σ_i ℓ(z_i) (log-sum-exp over log ℓ(z_i), as Loss.LogSumLoss), taken
            // here on both threads instead of over all m samples after the pass.
            int i0 = Math.Min(_m, c * _blocks / plan.Chunks * Ns), i1 = Math.Min(_m, (c + 1) * _blocks / plan.Chunks * Ns);
            double lossMax = double.NegativeInfinity;
            for (int i = i0; i < i1; i++)
            {
                double v = Loss.LogValue(_margins[i]);
                _scratch[i] = v;
                lossMax = Math.Max(lossMax, v);
            }

            double lossSum = 0;
            for (int i = i0; i < i1 && !double.IsNegativeInfinity(lossMax); i++)
            {
                lossSum += Math.Exp(_scratch[i] - lossMax);
            }

            plan.LossMaximum[c] = lossMax;
            plan.LossSum[c] = lossSum;
            plan.Reference[c] = reference;
            plan.ChunkMinimum[c] = qmin;
            plan.Bad[c] = bad || !double.IsFinite(reference);
        }
    }

    // The forward pass of sample block s with the first layer's product in float32 (widened before the activation).
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void ForwardBlockSingle(int s, double* tile)
    {
        FusedPlan plan = _fused!;
        int d = _n[0], n1 = _n[1];
        // The block's z_1 (up to 20 rows of 16) goes into the part's tile and the accumulators after it.
        SingleGemm.Forward(plan.X32 + ((long)s * d * Ns), plan.W32, d, tile, plan.Units);
        for (int r = 0; r < n1; r++)
        {
            long at = (((long)s * n1) + r) * Ns;
            Activate(tile + (r * Ns), _zT[1]!.Pointer + at, _aT[1]!.Pointer + at);
        }

        ForwardBlock(s, tile, 2);
    }

    // ∂W_1ᵀ += X_sᵀ δ_1 in float32 over the block's 16 samples, added to the chunk's float64 rows.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void AccumulateSingle(int s, double* delta, float* deltaT, double* g1)
    {
        FusedPlan plan = _fused!;
        int d = _n[0], n1 = _n[1], lanes = plan.Lanes;
        for (int j = 0; j < n1; j++)
        {
            for (int q = 0; q < Ns; q++)
            {
                deltaT[(q * lanes) + j] = (float)delta[(j * Ns) + q];
            }
        }

        float* xs = plan.X32 + ((long)s * d * Ns);
        for (int f0 = 0; f0 < d; f0 += SingleGemm.Rows)
        {
            SingleGemm.Accumulate(xs + ((long)f0 * Ns), deltaT, g1 + ((long)f0 * lanes), lanes);
        }
    }

    // The per-sample buffers sample block s will touch (z_l, a_l, δ_l, c, f): streaming X evicts them between calls.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void PrefetchBlockBuffers(int s)
    {
        for (int l = 1; l < _depth; l++)
        {
            long at = (long)s * _n[l] * Ns;
            PrefetchRows(_zT[l]!.Pointer + at, _n[l]);
            PrefetchRows(_aT[l]!.Pointer + at, _n[l]);
            PrefetchRows(_dT[l]!.Pointer + at, _n[l]);
        }

        PrefetchRows(_c.Pointer + ((long)s * Ns), 1);
        PrefetchRows(_f.Pointer + ((long)s * Ns), 1);
        PrefetchRows(_fused!.LogDerivative.Pointer + ((long)s * Ns), 1);
    }

    // Software prefetch (to L2) of `rows` feature rows of 16 samples, two cache lines each.
    private static void PrefetchRows(double* rows, int count)
    {
        if (System.Runtime.Intrinsics.X86.Sse.IsSupported)
        {
            for (int r = 0; r < 2 * count; r++)
            {
                System.Runtime.Intrinsics.X86.Sse.Prefetch1(rows + (r * Lane));
            }
        }
    }

    // sums[(j·n + i)·8 + lane] += Σ_{q ≡ lane} left[j][q] · right[i][q] over the block's 16 samples, j < leftRows,
    // i < n (both operands sample-blocked, 16 samples per row).
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void LaneRankUpdate(double* left, int leftRows, double* right, int n, double* sums)
    {
        for (int j = 0; j < leftRows; j++)
        {
            Vector512<double> l0 = Vector512.Load(left + (j * Ns)), l1 = Vector512.Load(left + (j * Ns) + Lane);
            double* row = sums + ((long)j * n * Lane);
            for (int i = 0; i < n; i++)
            {
                Vector512<double> acc = Vector512.Load(row + (i * Lane));
                acc = Vector512.FusedMultiplyAdd(l0, Vector512.Load(right + (i * Ns)), acc);
                acc = Vector512.FusedMultiplyAdd(l1, Vector512.Load(right + (i * Ns) + Lane), acc);
                acc.Store(row + (i * Lane));
            }
        }
    }

    // ∂W = Σ_c scale_c · (chunk c's sums), chunks in order; ∂W_1 split over the parts by feature, the small blocks
    // and the weights ℓ'(z_i)/L by the parts in turn.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void CombinePart(int part)
    {
        FusedPlan plan = _fused!;
        int d = _n[0], n1 = _n[1], lanes = plan.Lanes;
        double* g = (double*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref _grad[_blockOffsets[0]]);
        double* row = stackalloc double[32 + Lane];
        for (int f = part * d / _parts; f < (part + 1) * d / _parts; f++)
        {
            for (int u = 0; u < lanes; u += Lane / 2)
            {
                Vector256<double> acc = Vector256<double>.Zero;
                for (int c = 0; c < plan.Chunks; c++)
                {
                    acc = Vector256.FusedMultiplyAdd(Vector256.Create(plan.Scale[c]), Vector256.Load(plan.Gradient1[c].Pointer + ((long)f * lanes) + u), acc);
                }

                acc.Store(row + u);
            }

            for (int j = 0; j < n1; j++)
            {
                g[((long)j * d) + f] = row[j];
            }
        }

        for (int i = part * _m / _parts; i < (part + 1) * _m / _parts; i++)
        {
            _weights[i] = -Math.Exp(plan.LogDerivative.Pointer[i] - plan.LogLoss);
        }

        if (part != _parts - 1)
        {
            return;
        }

        for (int l = 2; l <= _depth; l++)
        {
            int rowsOut = l == _depth ? 1 : _n[l], n = _n[l - 1];
            double* target = (double*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref _grad[_blockOffsets[l - 1]]);
            for (int k = 0; k < rowsOut * n; k++)
            {
                double sum = 0;
                for (int c = 0; c < plan.Chunks; c++)
                {
                    sum += plan.Scale[c] * Vector512.Sum(Vector512.Load(plan.LaneSums[c].Pointer + plan.LaneOffset[l] + ((long)k * Lane)));
                }

                target[k] = sum;
            }
        }
    }

    /// <summary>Buffers and work split of the fused pass (allocated once).</summary>
    private sealed class FusedPlan
    {
        private FusedPlan(LossEvaluator owner, bool single)
        {
            int d = owner._n[0];
            Single = single;
            Lanes = single ? SingleGemm.Lanes(owner._n[1]) : NarrowGemm.Lanes(owner._n[1]);
            Rows = single ? SingleGemm.Rows : NarrowGemm.Rows(Lanes);
            Chunks = Math.Min(MaxChunks, owner._blocks);
            Parts = Math.Min(owner._parts, Chunks);
            LaneOffset = new int[owner._depth + 1];
            int laneValues = 0;
            for (int l = 2; l <= owner._depth; l++)
            {
                LaneOffset[l] = laneValues;
                laneValues += (l == owner._depth ? 1 : owner._n[l]) * owner._n[l - 1] * Lane;
            }

            int featureRows = (d + Rows - 1) / Rows * Rows;
            Gradient1 = new AlignedBuffer[Chunks];
            LaneSums = new AlignedBuffer[Chunks];
            for (int c = 0; c < Chunks; c++)
            {
                Gradient1[c] = new AlignedBuffer(featureRows * Lanes);
                LaneSums[c] = new AlignedBuffer(laneValues);
            }

            DeltaT = new AlignedBuffer[Parts];
            for (int p = 0; p < Parts; p++)
            {
                DeltaT[p] = new AlignedBuffer(Ns * Lanes);
            }

            LogDerivative = new AlignedBuffer(owner._mPad);
            if (single)
            {
                // float32 values in double buffers (two per double; the 64-byte alignment holds): the data
                // sample-blocked as _xT with Rows feature rows of slack, W_1 in groups of SingleGemm.Units rows.
                Units = SingleGemm.Units(owner._n[1]);
                _x32 = new AlignedBuffer(((owner._blocks * d * Ns) + (Rows * Ns)) / 2 + 1);
                _w32 = new AlignedBuffer((d * Units / 2) + 1);
                X32 = (float*)_x32.Pointer;
                W32 = (float*)_w32.Pointer;
                double* x = owner._xT.Pointer;
                for (long k = 0; k < (long)owner._blocks * d * Ns; k++)
                {
                    X32[k] = (float)x[k];
                }
            }

            Reference = new double[Chunks];
            ChunkMinimum = new double[Chunks];
            LossMaximum = new double[Chunks];
            LossSum = new double[Chunks];
            Scale = new double[Chunks];
            Bad = new bool[Chunks];
            Rescales = new int[Chunks];
            PassBody = owner.FusedPart;
            CombineBody = owner.CombinePart;
        }

        private readonly AlignedBuffer? _x32;
        private readonly AlignedBuffer? _w32;

        /// <summary>Whether the products with the data are taken in float32.</summary>
        public bool Single { get; }

        /// <summary>The data as float32, sample-blocked like _xT (single only).</summary>
        public float* X32 { get; }

        /// <summary>W_1ᵀ as float32, [feature][unit], units padded to <see cref="Units"/> (single only).</summary>
        public float* W32 { get; }

        /// <summary>Units of the float32 forward kernel (10 or 20; single only).</summary>
        public int Units { get; }

        public int Lanes { get; }

        public int Rows { get; }

        public int Chunks { get; }

        public int Parts { get; }

        public int[] LaneOffset { get; }

        public AlignedBuffer[] Gradient1 { get; }

        public AlignedBuffer[] LaneSums { get; }

        public AlignedBuffer[] DeltaT { get; }

        public AlignedBuffer LogDerivative { get; }

        public double[] Reference { get; }

        public double[] ChunkMinimum { get; }

        /// <summary>Per chunk, the largest log ℓ(z_i) (M_c of the chunk's log-sum-exp).</summary>
        public double[] LossMaximum { get; }

        /// <summary>Per chunk, Σ_i exp(log ℓ(z_i) − M_c).</summary>
        public double[] LossSum { get; }

        public double[] Scale { get; }

        public bool[] Bad { get; }

        public int[] Rescales { get; }

        public double LogLoss { get; set; }

        /// <summary>1 for each chunk already taken in this pass.</summary>
        [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1051", Justification = "Interlocked needs the elements by reference.")]
        public readonly int[] Claimed = new int[MaxChunks];

        /// <summary>
        /// The next chunk for <paramref name="part"/>, or −1 when none is left: first its own chunks in order (part p owns
        /// chunks [p C/P, (p + 1) C/P)), so that each thread reads the same part of X on every call and finds it in its
        /// own caches; then, when it is done, the others' chunks from their ends (a late worker on a shared machine).
        /// A chunk's sums do not depend on who computes them.
        /// </summary>
        public int ClaimChunk(int part)
        {
            for (int c = part * Chunks / Parts; c < (part + 1) * Chunks / Parts; c++)
            {
                if (Volatile.Read(ref Claimed[c]) == 0 && Interlocked.Exchange(ref Claimed[c], 1) == 0)
                {
                    return c;
                }
            }

            for (int q = 1; q < Parts; q++)
            {
                int other = (part + q) % Parts;
                for (int c = ((other + 1) * Chunks / Parts) - 1; c >= other * Chunks / Parts; c--)
                {
                    if (Volatile.Read(ref Claimed[c]) == 0 && Interlocked.Exchange(ref Claimed[c], 1) == 0)
                    {
                        return c;
                    }
                }
            }

            return -1;
        }

        public Action<int> PassBody { get; }

        public Action<int> CombineBody { get; }

        // The fused pass where it applies: AVX-512, depth 2–3, every hidden width ≤ 20.
        public static FusedPlan? Create(LossEvaluator owner)
        {
            if (PackedGemm.HardwarePath != GemmKernelPath.Vector512 || owner._depth < 2 || owner._depth > 3)
            {
                return null;
            }

            for (int l = 1; l < owner._depth; l++)
            {
                if (owner._n[l] > MaxFusedWidth)
                {
                    return null;
                }
            }

            return new FusedPlan(owner, single: false);
        }

        // The float32 variant (the caller has checked that the fused pass applies).
        public static FusedPlan CreateSingle(LossEvaluator owner) => new(owner, single: true);

        // W_1 (n_1 × d, row-major) as float32 W_1ᵀ [feature][Units]; padding units stay zero.
        public void PackSingleWeights(ReadOnlySpan<double> w, int n1, int d)
        {
            for (int j = 0; j < n1; j++)
            {
                ReadOnlySpan<double> row = w.Slice(j * d, d);
                for (int f = 0; f < d; f++)
                {
                    W32[(f * Units) + j] = (float)row[f];
                }
            }
        }

        public void Rescale(int chunk, double factor)
        {
            Multiply(Gradient1[chunk].Span, factor);
            Multiply(LaneSums[chunk].Span, factor);
        }

        private static void Multiply(Span<double> values, double factor)
        {
            for (int k = 0; k < values.Length; k++)
            {
                values[k] *= factor;
            }
        }
    }
}
