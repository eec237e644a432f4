using ImplicitBias.Flow.Core.State;

namespace ImplicitBias.Flow.Solvers.Controllers;

/// <summary>
/// The per-block tolerances a controller judges errors by: rtol_b, atol_b and the block scale κ_b, which raises
/// the block's absolute tolerance to κ_b · max_i |y_b,i| so that coordinates born from zero are judged against
/// their block's own scale rather than componentwise. A flow declares them per block in its
/// <see cref="StateLayout"/> (<see cref="StateBlock.RelTol"/>, <see cref="StateBlock.AbsTol"/>,
/// <see cref="StateBlock.ScaledAbsTol"/>); a controller may replace them.
/// </summary>
public sealed class ErrorTolerances
{
    private readonly double[] _relTol;
    private readonly double[] _absTol;
    private readonly double[] _blockScale;
    private readonly bool[] _scaled;

    private ErrorTolerances(double[] relTol, double[] absTol, double[] blockScale)
    {
        for (int b = 0; b < relTol.Length; b++)
        {
            if (!(relTol[b] >= 0) || !(absTol[b] >= 0) || !(blockScale[b] >= 0) || !(relTol[b] + absTol[b] + blockScale[b] > 0))
            {
                throw new ArgumentException($"Block {b} needs non-negative tolerances, not all zero (rtol {relTol[b]}, atol {absTol[b]}, κ {blockScale[b]}).");
            }
        }

        _relTol = relTol;
        _absTol = absTol;
        _blockScale = blockScale;
        _scaled = blockScale.Select(k => k > 0).ToArray();
        AnyScaled = _scaled.Any(s => s);
    }

    /// <summary>
    /// The layout's declared tolerances; <paramref name="relTol"/> and <paramref name="absTol"/>, when given, replace
    /// every block's, and <paramref name="blockScale"/> replaces κ of the blocks that declare one (which blocks are
    /// judged against their own scale is the flow's choice; how strictly is the controller's).
    /// </summary>
    public static ErrorTolerances Of(StateLayout layout, double? relTol = null, double? absTol = null, double? blockScale = null)
    {
        ArgumentNullException.ThrowIfNull(layout);
        IReadOnlyList<StateBlock> blocks = layout.Blocks;
        return new(
            blocks.Select(b => relTol ?? b.RelTol).ToArray(),
            blocks.Select(b => absTol ?? b.AbsTol).ToArray(),
            blocks.Select(b => b.ScaledAbsTol > 0 && blockScale is double k ? k : b.ScaledAbsTol).ToArray());
    }

    /// <summary>Number of blocks.</summary>
    public int BlockCount => _relTol.Length;

    /// <summary>rtol_b per block.</summary>
    public ReadOnlySpan<double> RelTol => _relTol;

    /// <summary>atol_b per block (before the block scale raises it).</summary>
    public ReadOnlySpan<double> AbsTol => _absTol;

    /// <summary>κ_b per block (0: no block scale).</summary>
    public ReadOnlySpan<double> BlockScale => _blockScale;

    /// <summary>Per block: whether κ_b &gt; 0 (its max |y_b| is needed).</summary>
    public ReadOnlySpan<bool> Scaled => _scaled;

    /// <summary>Whether any block has a block scale.</summary>
    public bool AnyScaled { get; }

    /// <summary>
    /// The absolute tolerance of block <paramref name="block"/> at a state whose largest component there is
    /// <paramref name="maxAbs"/> in size: max(atol_b, κ_b · maxAbs) when κ_b &gt; 0, else atol_b.
    /// </summary>
    public double AbsTolAt(int block, double maxAbs) =>
        _blockScale[block] > 0 ? Math.Max(_absTol[block], _blockScale[block] * maxAbs) : _absTol[block];
}
