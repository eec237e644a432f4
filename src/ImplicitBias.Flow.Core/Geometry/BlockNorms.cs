using ImplicitBias.Flow.Core.Parameters;

namespace ImplicitBias.Flow.Core.Geometry;

/// <summary>
/// The weighted max norm ‖θ‖ = max_b r_b ‖θ_b‖_(b) over the blocks of a <see cref="ParameterLayout"/>.
/// By Lemma C.22 its dual is Σ_b ‖g_b‖_(b)⋆ / r_b (<see cref="BlockSumNorm"/>). With spectral norms on
/// every block and r = 1 it is msp (Definition C.25); the composite norms of Muon-Signum and Muon-Adam
/// (docs/mathematics.md §2) are instances too — see <see cref="Norms"/>.
/// </summary>
public sealed class BlockMaxNorm : Norm
{
    private readonly Norm[] _norms;
    private readonly double[] _weights;

    /// <summary>
    /// Creates max_b r_b ‖θ_b‖_(b) with one norm and one weight r_b &gt; 0 per block of
    /// <paramref name="layout"/>.
    /// </summary>
    public BlockMaxNorm(ParameterLayout layout, IReadOnlyList<Norm> blockNorms, IReadOnlyList<double> weights, string name = "blockmax")
    {
        ArgumentNullException.ThrowIfNull(layout);
        (_norms, _weights) = BlockSumNorm.Validate(layout, blockNorms, weights);
        Layout = layout;
        Name = name;
    }

    /// <summary>The layout that splits θ into blocks.</summary>
    public ParameterLayout Layout { get; }

    /// <summary>The per-block norms ‖·‖_(b).</summary>
    public IReadOnlyList<Norm> BlockNorms => _norms;

    /// <summary>The per-block weights r_b.</summary>
    public IReadOnlyList<double> Weights => _weights;

    /// <inheritdoc/>
    public override string Name { get; }

    /// <summary>Σ_b ‖g_b‖_(b)⋆ / r_b (Lemma C.22).</summary>
    public override Norm Dual => _dual ??= new BlockSumNorm(Layout, _norms.Select(n => n.Dual).ToArray(), _weights, Name + "*");

    private BlockSumNorm? _dual;

    /// <inheritdoc/>
    public override double Value(ReadOnlySpan<double> x)
    {
        BlockSumNorm.CheckLength(Layout, x.Length);
        double m = 0;
        for (int b = 0; b < _norms.Length; b++)
        {
            m = Math.Max(m, _weights[b] * _norms[b].Value(Layout.Slice(x, b)));
        }

        return m;
    }

    /// <summary>
    /// Per block the block's own steepest direction scaled by 1/r_b, so every block with g_b ≠ 0 has
    /// r_b ‖u_b‖_(b) = 1 and ⟨u, g⟩ = Σ_b ‖g_b‖_(b)⋆ / r_b (the maximizer in the proof of Lemma C.22).
    /// </summary>
    public override void SteepestDirection(ReadOnlySpan<double> g, Span<double> u)
    {
        BlockSumNorm.CheckLength(Layout, g.Length);
        CheckSameLength(g, u);
        for (int b = 0; b < _norms.Length; b++)
        {
            Span<double> ub = Layout.Slice(u, b);
            _norms[b].SteepestDirection(Layout.Slice(g, b), ub);
            double s = 1.0 / _weights[b];
            for (int j = 0; j < ub.Length; j++)
            {
                ub[j] *= s;
            }
        }
    }
}

/// <summary>
/// The weighted sum norm ‖g‖ = Σ_b ‖g_b‖_(b) / r_b over the blocks of a layout, the dual of
/// <see cref="BlockMaxNorm"/> (Lemma C.22); with nuclear norms and r = 1 it is snuc.
/// </summary>
public sealed class BlockSumNorm : Norm
{
    private readonly Norm[] _norms;
    private readonly double[] _weights;

    /// <summary>Creates Σ_b ‖x_b‖_(b) / r_b with one norm and one weight r_b &gt; 0 per block.</summary>
    public BlockSumNorm(ParameterLayout layout, IReadOnlyList<Norm> blockNorms, IReadOnlyList<double> weights, string name = "blocksum")
    {
        ArgumentNullException.ThrowIfNull(layout);
        (_norms, _weights) = Validate(layout, blockNorms, weights);
        Layout = layout;
        Name = name;
    }

    /// <summary>The layout that splits the vector into blocks.</summary>
    public ParameterLayout Layout { get; }

    /// <inheritdoc/>
    public override string Name { get; }

    /// <summary>max_b r_b ‖g_b‖_(b)⋆.</summary>
    public override Norm Dual => _dual ??= new BlockMaxNorm(Layout, _norms.Select(n => n.Dual).ToArray(), _weights, Name.EndsWith('*') ? Name[..^1] : Name + "*");

    private BlockMaxNorm? _dual;

    /// <inheritdoc/>
    public override double Value(ReadOnlySpan<double> x)
    {
        CheckLength(Layout, x.Length);
        double s = 0;
        for (int b = 0; b < _norms.Length; b++)
        {
            s += _norms[b].Value(Layout.Slice(x, b)) / _weights[b];
        }

        return s;
    }

    /// <summary>
    /// All of the unit ball's budget on the first block b maximizing r_b ‖g_b‖_(b)⋆: there
    /// u_b = r_b · (block steepest direction), elsewhere 0, so ⟨u, g⟩ = max_b r_b ‖g_b‖_(b)⋆.
    /// </summary>
    public override void SteepestDirection(ReadOnlySpan<double> g, Span<double> u)
    {
        CheckLength(Layout, g.Length);
        CheckSameLength(g, u);
        u.Clear();
        int best = -1;
        double m = 0;
        for (int b = 0; b < _norms.Length; b++)
        {
            double v = _weights[b] * _norms[b].Dual.Value(Layout.Slice(g, b));
            if (v > m)
            {
                m = v;
                best = b;
            }
        }

        if (best < 0)
        {
            return;
        }

        Span<double> ub = Layout.Slice(u, best);
        _norms[best].SteepestDirection(Layout.Slice(g, best), ub);
        for (int j = 0; j < ub.Length; j++)
        {
            ub[j] *= _weights[best];
        }
    }

    internal static (Norm[] Norms, double[] Weights) Validate(ParameterLayout layout, IReadOnlyList<Norm> blockNorms, IReadOnlyList<double> weights)
    {
        ArgumentNullException.ThrowIfNull(blockNorms);
        ArgumentNullException.ThrowIfNull(weights);
        int k = layout.Blocks.Count;
        if (blockNorms.Count != k || weights.Count != k)
        {
            throw new ArgumentException($"The layout has {k} blocks; got {blockNorms.Count} norms and {weights.Count} weights.");
        }

        for (int b = 0; b < k; b++)
        {
            if (!(weights[b] > 0) || double.IsInfinity(weights[b]))
            {
                throw new ArgumentException($"Weight of block '{layout.Blocks[b].Name}' is {weights[b]}; it must be positive and finite.", nameof(weights));
            }
        }

        return (blockNorms.ToArray(), weights.ToArray());
    }

    internal static void CheckLength(ParameterLayout layout, int length)
    {
        if (length != layout.Length)
        {
            throw new ArgumentException($"Vector has length {length}; the layout has {layout.Length} parameters.");
        }
    }
}

/// <summary>Builders for the norms of the optimizers in docs/mathematics.md §2.</summary>
public static class Norms
{
    /// <summary>ℓ2 (GD, NGD, MomentumGD, NMomentumGD).</summary>
    public static Norm L2 => L2Norm.Instance;

    /// <summary>ℓ∞ (SignGD, Signum, Adam by Theorem 3.6).</summary>
    public static Norm LInf => LInfNorm.Instance;

    /// <summary>ℓ1, the dual of ℓ∞.</summary>
    public static Norm L1 => L1Norm.Instance;

    /// <summary>
    /// msp = max over blocks of the spectral norm (SpectralGD, Muon), with the output row a 1×k matrix
    /// whose spectral norm is its ℓ2 norm (docs/mathematics.md §2). Its dual is snuc.
    /// </summary>
    public static BlockMaxNorm Msp(ParameterLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        return new BlockMaxNorm(layout, layout.Blocks.Select(b => (Norm)new SpectralNorm(b.Rows, b.Cols)).ToArray(), Ones(layout), "msp");
    }

    /// <summary>snuc = Σ_b ‖G_b‖nuc, the dual of <see cref="Msp"/>.</summary>
    public static BlockSumNorm Snuc(ParameterLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        return new BlockSumNorm(layout, layout.Blocks.Select(b => (Norm)new NuclearNorm(b.Rows, b.Cols)).ToArray(), Ones(layout), "snuc");
    }

    /// <summary>
    /// Muon-Signum's max{‖W‖msp, ‖u‖∞}: spectral norm on matrix blocks, ℓ∞ on vector blocks, weights 1.
    /// </summary>
    public static BlockMaxNorm MuonSignum(ParameterLayout layout) => MuonAdam(layout, 1.0, "muon-signum");

    /// <summary>
    /// Muon-Adam's max{(η0ᴬ/η0ᴹ)‖W‖msp, ‖u‖∞} (Theorem 3.7): spectral norm with weight
    /// <paramref name="matrixWeight"/> = η0ᴬ/η0ᴹ on matrix blocks, ℓ∞ with weight 1 on vector blocks.
    /// </summary>
    public static BlockMaxNorm MuonAdam(ParameterLayout layout, double matrixWeight, string name = "muon-adam")
    {
        ArgumentNullException.ThrowIfNull(layout);
        var norms = layout.Blocks.Select(b => b.IsMatrix ? (Norm)new SpectralNorm(b.Rows, b.Cols) : LInfNorm.Instance).ToArray();
        var weights = layout.Blocks.Select(b => b.IsMatrix ? matrixWeight : 1.0).ToArray();
        return new BlockMaxNorm(layout, norms, weights, name);
    }

    private static double[] Ones(ParameterLayout layout) => Enumerable.Repeat(1.0, layout.Blocks.Count).ToArray();
}
