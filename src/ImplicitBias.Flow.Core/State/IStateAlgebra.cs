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
    /// Error norm of an embedded estimate: RMS over all components of e_i / sc_i with
    /// sc_i = atol_b + rtol_b · max(|y0_i|, |y1_i|), where atol_b is raised to κ_b · max_i |y1_b,i| when the
    /// block's <see cref="StateBlock.ScaledAbsTol"/> is positive. NaN when any input is not finite.
    /// </summary>
    double ErrorNorm(TState y0, TState y1, TState error);

    /// <summary>True when every component is finite.</summary>
    bool AllFinite(TState y);

    /// <summary>Copies a state to host memory.</summary>
    void Read(TState source, Span<double> destination);

    /// <summary>Copies host values into a state.</summary>
    void Write(ReadOnlySpan<double> source, TState destination);
}
