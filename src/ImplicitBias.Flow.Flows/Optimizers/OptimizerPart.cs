using ImplicitBias.Flow.Core.Parameters;

namespace ImplicitBias.Flow.Flows.Optimizers;

/// <summary>
/// One optimizer acting on a contiguous run of parameter blocks (all of θ for a plain optimizer; the
/// matrices or the output row for composites such as Muon-Adam). Its step is η0 · s(t) where s is the
/// shared schedule shape (t + t_off)^{−a}.
/// </summary>
/// <param name="Name">Optimizer name, e.g. "adam".</param>
/// <param name="FirstBlock">Index of the first parameter block the part covers.</param>
/// <param name="BlockCount">Number of consecutive parameter blocks it covers.</param>
/// <param name="Source">Gradient, momentum or Adam.</param>
/// <param name="Geometry">Raw, ℓ2, sign, polar or Adam ratio.</param>
/// <param name="Eta0">η0 of this part.</param>
/// <param name="C1">Momentum rate c1 (momentum and Adam sources).</param>
/// <param name="C2">Second-moment rate c2 (Adam).</param>
/// <param name="Epsilon">Adam's ε.</param>
/// <param name="SignWidth">Relative width of the smoothed sign.</param>
/// <param name="SignMode">Smoothed or exact sign.</param>
public sealed record OptimizerPart(
    string Name,
    int FirstBlock,
    int BlockCount,
    UpdateSource Source,
    UpdateGeometry Geometry,
    double Eta0,
    double C1 = 0,
    double C2 = 0,
    double Epsilon = 0,
    double SignWidth = 1e-3,
    SignMode SignMode = SignMode.Smooth)
{
    /// <summary>True when the part carries a momentum state m.</summary>
    public bool HasMomentum => Source is UpdateSource.Momentum or UpdateSource.Adam;

    /// <summary>True when the part carries a second-moment state v.</summary>
    public bool HasSecondMoment => Source == UpdateSource.Adam;

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
