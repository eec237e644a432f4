using ImplicitBias.Flow.Flows.Field;

namespace ImplicitBias.Flow.Flows.Optimizers;

/// <summary>
/// The coordinatewise directions of the optimizers (docs/mathematics.md §2) on host spans: inputs first, output last,
/// no allocation. Each writes the direction d whose negative times η is dθ/dt. They are <see cref="FieldDirections"/> (the
/// flow's own, written once over the backends' primitives) with factor 1, so the discrete optimizer steps along the same
/// directions as the flow.
/// </summary>
public static class Directions
{
    /// <summary>d = s/‖s‖₂ (0 when s = 0): the ℓ2 steepest direction of Eq. 3/6.</summary>
    public static void NormalizedL2(ReadOnlySpan<double> s, Span<double> d) =>
        FieldDirections.NormalizedL2<ReadOnlySpan<double>, Span<double>, HostFieldPrimitives>(HostFieldPrimitives.Elementwise, s, d, 1.0);

    /// <summary>
    /// d = sign(s) exactly (0 at 0), or the smoothed sign s/√(s² + δ²) with δ = width · max|s|, a width
    /// relative to the block's own scale so the smoothing means the same however the scale of s evolves.
    /// </summary>
    public static void Sign(ReadOnlySpan<double> s, double width, SignMode mode, Span<double> d) =>
        FieldDirections.Sign<ReadOnlySpan<double>, Span<double>, HostFieldPrimitives>(HostFieldPrimitives.Elementwise, s, width, mode, d, 1.0);

}
