using ImplicitBias.Flow.Core.Parameters;

namespace ImplicitBias.Flow.Flows;

/// <summary>
/// The full-batch loss of a model in the log domain: log L(θ) and the relative gradient g/L = ∇ log L.
/// The relative gradient is of order one however small L becomes, which is what lets the flows run to
/// log L = −1000 and beyond (docs/mathematics.md §1: the code carries log L and ∇log L, never L).
/// </summary>
public interface IGradientOracle
{
    /// <summary>The parameter blocks of θ.</summary>
    ParameterLayout Layout { get; }

    /// <summary>Writes g/L into <paramref name="relativeGradient"/> and returns log L. Must not allocate.</summary>
    double Evaluate(ReadOnlySpan<double> theta, Span<double> relativeGradient);
}
