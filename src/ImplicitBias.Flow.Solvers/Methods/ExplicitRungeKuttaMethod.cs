using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Controllers;

namespace ImplicitBias.Flow.Solvers.Methods;

/// <summary>
/// An explicit (embedded) Runge–Kutta method given by its <see cref="ButcherTableau"/>. On a semilinear term the
/// right-hand side is f = N − c_b y. Dense output is the method's own continuous extension when it has one
/// (<see cref="HasOwnDenseOutput"/>), otherwise the cubic Hermite interpolant through y0, f0, y1, f1
/// (Hairer §II.6), which costs nothing extra because f1 is the next step's first stage.
/// </summary>
public abstract class ExplicitRungeKuttaMethod : OdeMethod
{
    /// <summary>The tableau.</summary>
    public abstract ButcherTableau Tableau { get; }

    /// <summary>Whether <see cref="DenseWeights"/> is implemented.</summary>
    public virtual bool HasOwnDenseOutput => false;

    /// <summary>
    /// Second error weights for DOP853's combined estimate (Hairer §II.10): err = e5² / √(e5² + 0.01 e3²) with e5
    /// from <see cref="ButcherTableau.ErrorWeights"/> and e3 from these. Null for an ordinary embedded pair.
    /// </summary>
    public virtual double[]? ThirdOrderErrorWeights => null;

    /// <summary>
    /// Weights w_i(θ) of the continuous extension y(t0 + θh) = y0 + h Σ w_i k_i over the stages k_0..k_{s−1},
    /// f1 = f(t1, y1) at index s, and the extra dense stages after it.
    /// </summary>
    public virtual void DenseWeights(double theta, Span<double> weights) =>
        throw new NotSupportedException($"{Name} uses Hermite dense output.");

    /// <summary>
    /// Rows of the extra stages the continuous extension evaluates, lazily on the first interpolation of an accepted
    /// step (DOP853: 3). Row r has s + 1 + r entries over k_0..k_{s−1}, f1 and the earlier extra stages.
    /// </summary>
    public virtual double[][] DenseExtraRows => [];

    /// <summary>Nodes of the extra dense-output stages.</summary>
    public virtual double[] DenseExtraNodes => [];

    internal override IStepper<TState> CreateStepper<TState>(IStateAlgebra<TState> algebra, IOdeTerm<TState> term, ScaledErrorNorm<TState> norm) =>
        new ExplicitRungeKuttaStepper<TState>(this, algebra, term, norm);
}
