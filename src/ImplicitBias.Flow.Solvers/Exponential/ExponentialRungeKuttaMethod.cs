using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Controllers;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Solvers.Exponential;

/// <summary>
/// An explicit exponential Runge–Kutta method for y' = −c_b y + N(t, y) (Hochbruck &amp; Ostermann, Acta Numerica
/// 2010, §2.3): stages Y_i = e^{c_i z} y0 + h Σ_j a_ij(z) N_j with z = −c_b h per block, so the linear part is
/// exact and the step is not held to the explicit stability bound. Coefficients are φ-function combinations,
/// scalars per block, handed to <see cref="IStateAlgebra{TState}.Combine"/> in its per-block form.
/// </summary>
public abstract class ExponentialRungeKuttaMethod : OdeMethod
{
    /// <summary>Number of stages.</summary>
    public abstract int Stages { get; }

    /// <summary>Nodes c_i.</summary>
    public abstract IReadOnlyList<double> Nodes { get; }

    /// <summary>a_ij(z), j &lt; i, of stage <paramref name="stage"/> into <paramref name="row"/> (length <paramref name="stage"/>).</summary>
    public abstract void StageCoefficients(int stage, double z, Span<double> row);

    /// <summary>
    /// Weights of the continuous solution y(t0 + θh) = e^{θz} y0 + h Σ b_i(θ, z) N_i (θ = 1: the step) into
    /// <paramref name="weights"/>, and the embedded lower-order weights at θ = 1 into <paramref name="embedded"/>
    /// when that span is not empty.
    /// </summary>
    public abstract void Weights(double theta, double z, Span<double> weights, Span<double> embedded);

    /// <summary>
    /// Whether the error estimate also uses N at the previous accepted step's start (<see cref="HistoryEmbeddedWeights"/>),
    /// a free extra quadrature node; the first step of a solve, which has no previous step, uses <see cref="Weights"/>'
    /// embedded weights.
    /// </summary>
    public virtual bool HasHistoryEstimate => false;

    /// <summary>
    /// The embedded weights b̂ on [N(t − r h), N_1, …, N_s] (length <see cref="Stages"/> + 1) of a lower-order rule that
    /// uses the previous step's first stage, r = h_previous / h; the error estimate is h Σ (b − b̂) N.
    /// </summary>
    public virtual void HistoryEmbeddedWeights(double r, double z, Span<double> embedded) =>
        throw new NotSupportedException($"{Name} has no history estimate.");

    internal override IStepper<TState> CreateStepper<TState>(IStateAlgebra<TState> algebra, IOdeTerm<TState> term, ScaledErrorNorm<TState> norm) =>
        new ExponentialRungeKuttaStepper<TState>(this, algebra, term, norm);
}
