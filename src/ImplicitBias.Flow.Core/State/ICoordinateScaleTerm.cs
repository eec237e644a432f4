namespace ImplicitBias.Flow.Core.State;

/// <summary>
/// An optional capability of an <see cref="IOdeTerm{TState}"/>: for coordinates that matter to the flow at a size far
/// below their block's, that size. The Krylov methods weigh the state with the error weights
/// 1/(atol_b + rtol_b |y_i|), whose atol_b follows the block's largest value (κ max|y_b|); where the field couples a
/// coordinate to another through a factor that is large exactly when the coordinate is small (Adam's θ′ = −η m̂/√v̂,
/// whose m̃_i matters against √ṽ_i), that weight makes the coupling an entry of 10³⁰ or more of the weighted Jacobian,
/// and the Arnoldi process spends its vectors on round-off there. Weighing such a coordinate against its own size
/// balances the coupling.
/// </summary>
public interface ICoordinateScaleTerm
{
    /// <summary>Whether <see cref="CoordinateScales"/> gives any scale (false: a wrapper may forward a term that has none).</summary>
    bool HasCoordinateScales { get; }

    /// <summary>
    /// Writes r_i &gt; 0, the size at which coordinate i of <paramref name="y"/> matters, where the term knows one, and NaN
    /// elsewhere (the block's own rule stands there). Must depend on (t, y) only, so that a solve resumed from a checkpoint
    /// weighs as before.
    /// </summary>
    void CoordinateScales(double t, ReadOnlySpan<double> y, Span<double> scales);
}

/// <summary>Forwarding <see cref="ICoordinateScaleTerm"/> through a wrapper term.</summary>
public static class CoordinateScaleForwarding
{
    /// <summary>Whether <paramref name="inner"/> (possibly null) gives any size.</summary>
    public static bool Has(ICoordinateScaleTerm? inner) => inner is { HasCoordinateScales: true };

    /// <summary><paramref name="inner"/>'s sizes, or NaN everywhere when it gives none.</summary>
    public static void Forward(ICoordinateScaleTerm? inner, double t, ReadOnlySpan<double> y, Span<double> scales)
    {
        if (inner is { HasCoordinateScales: true } known)
        {
            known.CoordinateScales(t, y, scales);
        }
        else
        {
            scales.Fill(double.NaN);
        }
    }
}
