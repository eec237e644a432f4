using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Controllers;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Solvers.Rosenbrock;

/// <summary>
/// A Rosenbrock-W method (Hairer &amp; Wanner, Solving ODEs II, §IV.7) for y' = f(t, y) = −c_b y + N(t, y):
/// (I − hγW) k_i = h f(t + α_i h, y0 + Σ_j α_ij k_j) + hW Σ_j γ_ij k_j, y1 = y0 + Σ b_i k_i, with a matrix W that
/// only has to approximate ∂f/∂y on the stiff part: a W-method keeps its order for any W (and for non-autonomous
/// problems without the ∂f/∂t term), so W may be stale and low-rank. Here W = −C + V H Vᵀ Ω² (<see cref="KrylovW{TState}"/>):
/// the decays −c_b exactly, plus the Arnoldi projection of ∂N/∂y on a Krylov space built from directional
/// differences of N in the state's error-weighted coordinates, rebuilt every <see cref="RefreshEvery"/> accepted steps
/// (and after a rejected one if <see cref="RebuildAfterRejection"/>; otherwise a rejected step extends the space by
/// <see cref="ExtendAfterRejection"/> vectors from its error estimate). Each step costs s − 1 evaluations of N, one at
/// the accepted point, one for ∂N/∂t (the time column of W, renewed every step; none for a term that knows it in
/// closed form, <see cref="ITimeDerivativeTerm{TState}"/>), and the Krylov dimension's when the space is rebuilt. Measured in
/// Flows/STEPPERS.md: it wins where one or a few isolated stiff eigenvalues hold an explicit stepper (NGD on MNIST),
/// not on the Adam flow, whose many oscillating θ–m̃ modes a small Krylov space does not hold.
/// </summary>
public abstract class RosenbrockWMethod : OdeMethod
{
    /// <summary>Number of stages s.</summary>
    public abstract int Stages { get; }

    /// <summary>The diagonal γ = γ_ii.</summary>
    public abstract double Gamma { get; }

    /// <summary>α_ij (j &lt; i), s × s, zero on and above the diagonal.</summary>
    public abstract double[,] Alpha { get; }

    /// <summary>γ_ij (j &lt; i), s × s, zero above the diagonal (the diagonal is <see cref="Gamma"/>).</summary>
    public abstract double[,] GammaMatrix { get; }

    /// <summary>Weights b_i of the propagated solution.</summary>
    public abstract double[] Weights { get; }

    /// <summary>Weights b̂_i of the embedded solution.</summary>
    public abstract double[] EmbeddedWeights { get; }

    /// <summary>
    /// Largest dimension of the Krylov space of W at a rebuild (each vector costs one evaluation of N). 60, measured on
    /// NGD at Table 1 on MNIST to L = 1e-8 (Flows/STEPPERS.md): before the secant updates, rebuilt every 20 accepted
    /// steps and extended after rejections, 19,058 evaluations against 21,587 with 80 and no extensions and 42,935
    /// with 40 and a rebuild after every rejection; with them (rebuilt every 40 steps) 13,797 against 14,256 with 50
    /// and 15,090 with 40.
    /// </summary>
    public int KrylovDimension { get => _krylovDimension; init => _krylovDimension = value; }

    /// <summary>
    /// Accepted steps between two rebuilds of W (a W-method may use a stale W). 40: with <see cref="SecantUpdates"/>
    /// W stays useful longer; on NGD at Table 1 rebuilds every 20, 30, 40, 60 and 100 steps took 15,670, 14,885,
    /// 14,368, 14,895 and 16,988 evaluations. Where the updates do not run (a term with no closed-form ∂N/∂t) at most
    /// <see cref="RefreshEveryWithoutSecants"/>.
    /// </summary>
    public int RefreshEvery { get => _refreshEvery; init => _refreshEvery = value; }

    /// <summary>
    /// Whether a rejected step rebuilds W at its start before the retry. Off by default: on the MNIST flows where this
    /// method is used a fresh W seldom saves the retry (the rejections come from the part of the stiff spectrum that
    /// the Krylov space does not hold), and each rebuild costs <see cref="KrylovDimension"/> evaluations, which made
    /// rebuilds after rejections two thirds of NGD's cost at Table 1.
    /// </summary>
    public bool RebuildAfterRejection { get => _rebuildAfterRejection; init => _rebuildAfterRejection = value; }

    /// <summary>
    /// How many Krylov vectors a rejected step adds to W before its retry, started from the part of its error estimate
    /// outside the space (<see cref="KrylovW{TState}.Extend"/>), when W is not rebuilt: the direction the step failed to
    /// stabilize, for a few evaluations instead of a whole rebuild. 0: none. 4 measured best of 1, 2, 4, 8, 16 on NGD at
    /// Table 1 to t = 60 (Flows/STEPPERS.md).
    /// </summary>
    public int ExtendAfterRejection { get => _extendAfterRejection; init => _extendAfterRejection = value; }

    /// <summary>
    /// Whether every accepted step renews W's matrix with its secant pair (Broyden's update,
    /// <see cref="KrylovW{TState}.Update"/>): no evaluation, and W stays near the Jacobian along the path between
    /// rebuilds, so W can be rebuilt half as often. On by default (measured in Flows/STEPPERS.md, "Secant updates of
    /// W"); they run only for a term that gives ∂N/∂t in closed form (<see cref="ITimeDerivativeTerm{TState}"/>), whose
    /// value at both ends of a step takes the time dependence out of the pair.
    /// </summary>
    public bool SecantUpdates { get => _secantUpdates; init => _secantUpdates = value; }

    /// <summary>
    /// How many vectors the extensions after rejections may add to W's space before it is next rebuilt. 20: every
    /// solve with W reads the whole basis twice, so its time grows with the space; on NGD at Table 1 (with secant
    /// updates, rebuilt every 40 steps) capacities 10, 20 and 60 took 13,978, 13,797 and 14,368 evaluations.
    /// </summary>
    public int ExtensionCapacity { get => _extensionCapacity; init => _extensionCapacity = value; }

    /// <summary>
    /// Where the term has a Jacobian model that costs no evaluation (<see cref="IJacobianModelTerm"/>; normalized GD), how
    /// many paid Krylov vectors of ∂N/∂y − W_model a rebuild adds to the model's (W's space is then these and both sides of
    /// the model's pairs (<see cref="IJacobianModelTerm.JacobianModelRank"/>), in place of <see cref="KrylovDimension"/> vectors of ∂N/∂y). 0: the
    /// model is not used. 16 (Flows/STEPPERS.md, "A Gauss–Newton W for NGD": 8 took 3 % more evaluations, 24 1 % more).
    /// </summary>
    public int ModelResidualDimension { get => _modelResidualDimension; init => _modelResidualDimension = value; }

    private int _modelResidualDimension = 16;


    /// <summary>The most accepted steps between rebuilds of a W that no secant update renews: 20, measured best then.</summary>
    public const int RefreshEveryWithoutSecants = 20;

    private int _extendAfterRejection = 4;
    private int _extensionCapacity = 20;
    private int _krylovDimension = 60;
    private int _refreshEvery = 40;
    private bool _secantUpdates = true;
    private bool _rebuildAfterRejection;

    /// <summary>A copy of the method (the same tableau) with other settings of its Krylov W.</summary>
    public RosenbrockWMethod WithKrylov(int dimension, int refreshEvery, bool rebuildAfterRejection, int extendAfterRejection)
    {
        var copy = (RosenbrockWMethod)MemberwiseClone();
        copy._krylovDimension = dimension;
        copy._refreshEvery = refreshEvery;
        copy._rebuildAfterRejection = rebuildAfterRejection;
        copy._extendAfterRejection = extendAfterRejection;
        return copy;
    }

    internal override IStepper<TState> CreateStepper<TState>(IStateAlgebra<TState> algebra, IOdeTerm<TState> term, ScaledErrorNorm<TState> norm) =>
        new RosenbrockWStepper<TState>(this, algebra, term, norm);
}
