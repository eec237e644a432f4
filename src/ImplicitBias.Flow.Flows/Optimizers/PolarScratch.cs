using ImplicitBias.Flow.Core.Geometry;
using ImplicitBias.Flow.Core.Parameters;

namespace ImplicitBias.Flow.Flows.Optimizers;

/// <summary>
/// Exact U Vᵀ (the polar factor of the reduced SVD) of each parameter block, the Muon / SpectralGD direction
/// (docs/mathematics.md §2). The output row is a 1 × k matrix, whose U Vᵀ is u/‖u‖₂ (Sec. 6). One workspace per block, so
/// the factorization reuses its buffers across calls (see <see cref="PolarFactorWorkspace"/>).
/// </summary>
internal sealed class PolarScratch
{
    private readonly ParameterLayout _layout;
    private readonly PolarFactorWorkspace?[] _workspaces;

    public PolarScratch(ParameterLayout layout)
    {
        _layout = layout;
        _workspaces = layout.Blocks.Select(b => b.Rows > 1 && b.Cols > 1 ? new PolarFactorWorkspace(b.Rows, b.Cols) : null).ToArray();
    }

    /// <summary>output ← U Vᵀ of block <paramref name="block"/>'s matrix <paramref name="source"/> (row-major); 0 for a zero matrix.</summary>
    public void Compute(int block, ReadOnlySpan<double> source, Span<double> output)
    {
        PolarFactorWorkspace? workspace = _workspaces[block];
        if (workspace is null)
        {
            Directions.NormalizedL2(source, output);
            return;
        }

        workspace.Compute(source, output);
    }

    /// <summary>The parameter layout the workspaces were made for.</summary>
    public ParameterLayout Layout => _layout;
}
