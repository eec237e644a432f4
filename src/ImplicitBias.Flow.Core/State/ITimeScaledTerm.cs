namespace ImplicitBias.Flow.Core.State;

/// <summary>
/// An optional capability of an <see cref="IOdeTerm{TState}"/>: its explicit dependence on time is one scalar factor,
/// N(t, y) = a(t) F(y), so that ∂N/∂t = (a′(t)/a(t)) N(t, y) exactly, with no evaluation. The momentless flows are of
/// this form (GD, NGD, SignGD, SpectralGD: dθ/dt = −η(t) · direction(θ), and dσ/dt = ⟨∇ log L, dθ/dt⟩), which lets a
/// Rosenbrock-W step take its time column from the evaluation it already has instead of a difference in t.
/// </summary>
public interface ITimeScaledTerm
{
    /// <summary>True when the term is of the form a(t) F(y) (a wrapper may forward a term that is not).</summary>
    bool IsTimeScaled { get; }

    /// <summary>a′(t)/a(t), the logarithmic derivative of the scalar factor.</summary>
    double RelativeRate(double t);
}
