namespace ImplicitBias.Flow.Core.State;

/// <summary>
/// The small set of vector operations the Runge–Kutta steppers need. Steppers never touch the storage
/// of a state directly, so the same stepper runs on host memory (SIMD) or on device buffers (ILGPU).
/// Implementations allocate only in <see cref="Allocate"/>.
/// </summary>
/// <typeparam name="TState">The storage of one state vector.</typeparam>
public interface IStateAlgebra<TState>
    where TState : class
{
    /// <summary>The block structure every state of this algebra has.</summary>
    StateLayout Layout { get; }

    /// <summary>Allocates a zeroed state.</summary>
    TState Allocate();

    /// <summary>destination ← source.</summary>
    void Copy(TState source, TState destination);

    /// <summary>
    /// destination_b ← yScale_b · y_b + Σ_j a_{b,j} · stages[j]_b for every block b. With
    /// <paramref name="perBlock"/> false, <paramref name="yScale"/> has one entry and
    /// <paramref name="coefficients"/> one row of stages.Length entries used for all blocks; with it true,
    /// they have one entry (one row) per block, row-major (exponential integrators). The destination may
    /// alias <paramref name="y"/> but no stage.
    /// </summary>
    void Combine(TState y, ReadOnlySpan<double> yScale, ReadOnlySpan<double> coefficients, ReadOnlySpan<TState> stages, bool perBlock, TState destination);

    /// <summary>
    /// destination[b] ← max_i |y_b,i| for every block b with <paramref name="blocks"/>[b] true (other entries are
    /// left as they are). The value for a block holding NaN is unspecified (the error norm is NaN then anyway). One
    /// of the two reductions of the step-size controllers' error norm (the block scale κ_b · max |y_b|).
    /// </summary>
    void BlockMaxAbs(TState y, ReadOnlySpan<bool> blocks, Span<double> destination);

    /// <summary>
    /// Σ_i (e_i / sc_i)² over all components, with sc_i = absTol_b + relTol_b · max(|y0_i|, |y1_i|) for i in block b
    /// (one tolerance of each kind per block); NaN when any component of <paramref name="y0"/>,
    /// <paramref name="y1"/> or <paramref name="error"/> is not finite or the sum is not finite. The other reduction
    /// of the error norm, which the step-size controllers compose (the norm itself is theirs).
    /// </summary>
    double ScaledSquareSum(TState y0, TState y1, TState error, ReadOnlySpan<double> relTol, ReadOnlySpan<double> absTol);

    /// <summary>True when every component is finite.</summary>
    bool AllFinite(TState y);

    /// <summary>Copies a state to host memory.</summary>
    void Read(TState source, Span<double> destination);

    /// <summary>Copies host values into a state.</summary>
    void Write(ReadOnlySpan<double> source, TState destination);
}
