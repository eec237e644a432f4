using ImplicitBias.Flow.Core.Parameters;

namespace ImplicitBias.Flow.Flows.Optimizers;

/// <summary>
/// One optimizer acting on a contiguous run of parameter blocks (all of θ for a plain optimizer; the
/// matrices or the output row for composites such as Muon-Adam). Its step is η0 · s(t) where s is the
/// shared schedule shape (t + t_off)^{−a}.
/// </summary>
/// <param name="Definition">The optimizer (a single-part definition of <see cref="OptimizerRegistry"/>).</param>
/// <param name="FirstBlock">Index of the first parameter block the part covers.</param>
/// <param name="BlockCount">Number of consecutive parameter blocks it covers.</param>
/// <param name="Eta0">η0 of this part.</param>
/// <param name="C1">Momentum rate c1 (parts with a momentum).</param>
/// <param name="C2">Second-moment rate c2 (parts with a second moment).</param>
/// <param name="Epsilon">Adam's ε.</param>
/// <param name="SignWidth">Relative width of the smoothed sign.</param>
/// <param name="SignMode">Smoothed or exact sign.</param>
public sealed record OptimizerPart(
    OptimizerDefinition Definition,
    int FirstBlock,
    int BlockCount,
    double Eta0,
    double C1 = 0,
    double C2 = 0,
    double Epsilon = 0,
    double SignWidth = 1e-3,
    SignMode SignMode = SignMode.Smooth)
{
    /// <summary>The optimizer's name, e.g. "adam".</summary>
    public string Name => Definition.Name;

    /// <summary>Gradient, momentum or Adam.</summary>
    public UpdateSource Source => Definition.Source;

    /// <summary>Raw, ℓ2, sign, polar, Adam ratio or the definition's own direction.</summary>
    public UpdateGeometry Geometry => Definition.Geometry;

    /// <summary>True when the part carries a momentum state m.</summary>
    public bool HasMomentum => Definition.HasMomentum;

    /// <summary>True when the part carries a second-moment state v.</summary>
    public bool HasSecondMoment => Definition.HasSecondMoment;

    /// <summary>Offset of the part in θ.</summary>
    public int Offset(ParameterLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        return layout.Offset(FirstBlock);
    }

    /// <summary>Number of parameters the part covers.</summary>
    public int Length(ParameterLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        return layout.Offset(FirstBlock + BlockCount) - layout.Offset(FirstBlock);
    }
}
