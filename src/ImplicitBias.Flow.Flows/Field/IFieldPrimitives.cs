using ImplicitBias.Flow.Flows.Optimizers;

namespace ImplicitBias.Flow.Flows.Field;

/// <summary>
/// The few operations the flow's vector field (<see cref="OptimizerField"/>) and the directions
/// (<see cref="FieldDirections"/>) are written over, so that the mathematics exists once and each backend supplies only
/// these: host spans (<see cref="HostFieldPrimitives"/>) or ILGPU views (the Kernels project). Element-wise maps are
/// operator structs (<see cref="IElementwise"/>, <see cref="IElementwise2"/>) passed through struct-constrained generics,
/// so there is no virtual call per element. Reductions of an input that is not finite return a value that is not
/// finite (NaN on the host, +∞ on a device, whose atomic reductions must never see NaN); the field only asks whether
/// such a result is finite or zero, where both mean the same.
/// </summary>
/// <typeparam name="TIn">A read-only vector (ReadOnlySpan on the host).</typeparam>
/// <typeparam name="TOut">A writable vector (Span on the host).</typeparam>
public interface IFieldPrimitives<TIn, TOut>
    where TIn : struct, allows ref struct
    where TOut : struct, allows ref struct
{
    /// <summary>x[offset .. offset + length).</summary>
    TIn Slice(TIn x, int offset, int length);

    /// <summary>d[offset .. offset + length).</summary>
    TOut SliceOut(TOut d, int offset, int length);

    /// <summary>A writable vector read back as an input.</summary>
    TIn AsInput(TOut d);

    /// <summary>x[index] (on a device: one scalar read).</summary>
    double Read(TIn x, int index);

    /// <summary>d[index] ← value.</summary>
    void Write(TOut d, int index, double value);

    /// <summary>d ← value everywhere.</summary>
    void Fill(TOut d, double value);

    /// <summary>d_i ← op(x_i); d may be x.</summary>
    void Map<TOp>(TIn x, TOut d, TOp op)
        where TOp : struct, IElementwise;

    /// <summary>d_i ← op(x_i, y_i); d may be x or y.</summary>
    void Map<TOp>(TIn x, TIn y, TOut d, TOp op)
        where TOp : struct, IElementwise2;

    /// <summary>⟨a, b⟩; not finite when a product is not (on a device: also when one exceeds 1e300 in magnitude).</summary>
    double Dot(TIn a, TIn b);

    /// <summary>‖x‖₂ = √Σ x_i².</summary>
    double Norm(TIn x);

    /// <summary>Σ x_i².</summary>
    double SumOfSquares(TIn x);

    /// <summary>max_i |x_i|.</summary>
    double MaxAbs(TIn x);

    /// <summary>
    /// d ← U Vᵀ, the polar factor (reduced SVD A = U S Vᵀ) of parameter block <paramref name="block"/>'s row-major
    /// matrix s (rows, cols &gt; 1); 0 for a zero matrix, NaN for a matrix that is not finite. Each backend has one
    /// method, documented on its implementation.
    /// </summary>
    void Polar(int block, TIn s, TOut d);

    /// <summary>
    /// d ← the direction of a definition's own geometry (<see cref="UpdateGeometry.Defined"/>) for one part, from the
    /// part's ∇ log L, m̃ and ṽ (empty vectors for moments the part does not carry; λ is then NaN).
    /// </summary>
    void DefinedDirection(OptimizerPart part, double t, double logLoss, TIn gradient, TIn momentum, double momentumLogScale, TIn secondMoment, double secondMomentLogScale, TOut d);
}
