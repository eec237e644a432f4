using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Flows.Schedules;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Flows.Optimizers;

/// <summary>The norm whose steepest direction an optimizer follows (docs/mathematics.md §2): its "own" norm.</summary>
public enum OwnNormKind
{
    /// <summary>ℓ2 (GD, NGD, momentum GD and its normalized form).</summary>
    L2,

    /// <summary>ℓ∞ (SignGD, Signum, Adam).</summary>
    LInf,

    /// <summary>The max-spectral norm msp, max over matrices of the spectral norm (SpectralGD, Muon).</summary>
    Msp,
}

/// <summary>The family of an optimizer, which decides the predictions of the paper that apply (docs/mathematics.md §6).</summary>
/// <remarks>A composite flow takes the last family of this list that any of its parts has (Adam wins over all).</remarks>
public enum OptimizerFamily
{
    /// <summary>Normalized steepest descent (NGD, SignGD, SpectralGD): Lemma C.10, Theorem 3.1.</summary>
    SteepestDescent,

    /// <summary>Momentum steepest descent (normalized momentum, Signum, Muon, Muon-Signum): Lemma C.19, Definition 5.1.</summary>
    MomentumSteepestDescent,

    /// <summary>Plain (momentum) gradient flow, or a flow the paper does not cover: only the common predictions apply.</summary>
    GradientFlow,

    /// <summary>Adam and Muon-Adam: Lemma B.10 and Lemma C.19 for m and v.</summary>
    Adam,
}

/// <summary>The moment states a part carries besides θ (each a block of the flow's state and of the discrete optimizer's).</summary>
[Flags]
public enum FlowMoments
{
    /// <summary>None: the direction is computed from the gradient alone.</summary>
    None = 0,

    /// <summary>The momentum m of dm/dt = c1 (g − m) (Eqs. 4–6; discrete Eq. 19).</summary>
    First = 1,

    /// <summary>The second moment v of dv/dt = c2 (g² − v) (Eq. 7; discrete Eq. 20).</summary>
    Second = 2,
}

/// <summary>
/// The preconditioner P of an optimizer's step, −η P⁻¹ ∇L near a minimum of the quadratic model: what its
/// preconditioned sharpness λ_max(P⁻¹ ∇²L), the edge-of-stability quantity of the discrete optimizer, is taken with
/// (Analysis/Diagnostics/PreconditionedSharpness).
/// </summary>
public enum PreconditionerKind
{
    /// <summary>None the diagnosis handles (sign and polar directions, composites, defined directions).</summary>
    None,

    /// <summary>P = I (GD, momentum GD).</summary>
    Identity,

    /// <summary>P = ‖∇L‖₂ (NGD).</summary>
    GradientNorm,

    /// <summary>P = (1 − e^{−c1 t}) (diag √v̂ + ε), Adam's m̂/(√v̂ + ε).</summary>
    AdamDiagonal,
}

/// <summary>
/// Everything the program knows about one optimizer, in one place: its name and aliases, how it acts on θ (one part
/// with a built-in geometry, a <see cref="IDefinedDirection"/> of its own, or a composite of other optimizers per
/// block), its own norm, family, schedule assumption, default η0, whether it needs weight matrices, its default
/// stepper and whether it has a discrete form. The experiment vocabulary, the loader's defaults, the CLI help, the
/// observers and verify all read it from <see cref="OptimizerRegistry"/>; adding an optimizer is one definition.
/// </summary>
public sealed record OptimizerDefinition
{
    /// <summary>The name in experiment files (Optimizer:Name), lower case.</summary>
    public required string Name { get; init; }

    /// <summary>Other accepted spellings of <see cref="Name"/> (the loader stores the name).</summary>
    public IReadOnlyList<string> Aliases { get; init; } = [];

    /// <summary>One line for the CLI help and the docs, e.g. "normalized gradient descent, ℓ2 (Eq. 3)".</summary>
    public required string Summary { get; init; }

    /// <summary>What the direction is computed from (single-part definitions).</summary>
    public UpdateSource Source { get; init; } = UpdateSource.Gradient;

    /// <summary>How the source becomes a direction; <see cref="UpdateGeometry.Defined"/> for <see cref="Direction"/>.</summary>
    public UpdateGeometry Geometry { get; init; } = UpdateGeometry.Raw;

    /// <summary>The moments a part of this optimizer carries (momentum sources carry m, Adam m and v).</summary>
    public required FlowMoments Moments { get; init; }

    /// <summary>The direction of a <see cref="UpdateGeometry.Defined"/> geometry (host flow and discrete optimizer), else null.</summary>
    public IDefinedDirection? Direction { get; init; }

    /// <summary>The optimizer's own norm (single-part definitions; a composite's is built from its parts').</summary>
    public required OwnNormKind OwnNorm { get; init; }

    /// <summary>The family of predictions that apply.</summary>
    public required OptimizerFamily Family { get; init; }

    /// <summary>The learning-rate assumption of its theorem (Sec. 2.3), checked with a warning by the loader.</summary>
    public required ScheduleAssumption Schedule { get; init; }

    /// <summary>The default η0 (the paper's Table 1 for squared ReLU, relu-q) when the experiment gives none.</summary>
    public required double DefaultEta0 { get; init; }

    /// <summary>Table 1's η0 for other activations (activation → η0); activations not listed use <see cref="DefaultEta0"/>.</summary>
    public IReadOnlyDictionary<string, double> DefaultEta0ByActivation { get; init; } = new Dictionary<string, double>();

    /// <summary>True when the direction orthogonalizes weight matrices (a model of depth ≥ 2).</summary>
    public bool NeedsMatrices { get; init; }

    /// <summary>The default stepper (a name of the method catalogue), from measurements (Flows/STEPPERS.md).</summary>
    public string DefaultMethod { get; init; } = "dopri5";

    /// <summary>
    /// θ's absolute tolerance is the solver's (<c>Solver:AbsTol</c>) times this factor (in a composite, the smallest of
    /// its parts'). 1 but for normalized momentum (0.1): on MNIST at Table 1 (Kaiming × 0.01, weights ≈ 5e-4 at the
    /// start, so atol 1e-9 is looser than rtol·|θ_i| for every weight) its early phase, where θ/‖θ‖ is settled by the
    /// smallest weights, ended 4.2e-3 (ℓ2) and 4.3e-3 (ℓ∞) from a tight reference in the final margins and reached
    /// L = 1e-8 5.4 % late; with θ's atol 10× tighter 1.3e-5 and 6.9e-6, for 1.7 % more evaluations (Flows/STEPPERS.md,
    /// "The defaults against tight references"). For NGD and SignGD the same change costs 23–29 % (their W-method
    /// weighs its Krylov space by the tolerances) and their defaults are already within 7e-6–3.4e-5.
    /// </summary>
    public double ThetaAbsTolFactor { get; init; } = 1;

    /// <summary>
    /// In a composite whose parts disagree on the stepper, the part with the highest precedence &gt; 0 sets it (a stiff
    /// momentum decay binds any flow it is in); with none, DOPRI5.
    /// </summary>
    public int MethodPrecedence { get; init; }

    /// <summary>The preconditioner of its step for the sharpness diagnosis (<see cref="PreconditionerKind.None"/>: not diagnosed).</summary>
    public PreconditionerKind Preconditioner { get; init; }

    /// <summary>True when the discrete optimizer (Solver:Method = discrete, ibflow compare) implements it.</summary>
    public bool HasDiscreteForm { get; init; } = true;

    /// <summary>
    /// A composite: the parts on a layout (e.g. Muon on the matrices, Adam on the output row), null for a single
    /// part covering every block.
    /// </summary>
    public Func<OptimizerSpec, ParameterLayout, IReadOnlyList<OptimizerPart>>? Composite { get; init; }

    /// <summary>True when a part carries the momentum m.</summary>
    /// <remarks>A bit test, not Enum.HasFlag, which boxes (48 B a call) in unoptimized code, and the flows and the
    /// discrete optimizer ask at every step.</remarks>
    public bool HasMomentum => (Moments & FlowMoments.First) != 0;

    /// <summary>True when a part carries the second moment v.</summary>
    public bool HasSecondMoment => (Moments & FlowMoments.Second) != 0;

    /// <summary>The default η0 for a model with <paramref name="activation"/>.</summary>
    public double DefaultEta0For(string activation) =>
        DefaultEta0ByActivation.TryGetValue(activation, out double eta0) ? eta0 : DefaultEta0;

    /// <summary>The parts of this optimizer on <paramref name="layout"/>.</summary>
    public IReadOnlyList<OptimizerPart> Parts(OptimizerSpec spec, ParameterLayout layout)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(layout);
        if (NeedsMatrices && layout.Blocks.Count < 2)
        {
            throw new ArgumentException($"'{Name}' needs weight matrices; a linear predictor (depth 1) has none.");
        }

        return Composite is { } composite ? composite(spec, layout) : [Part(spec, 0, layout.Blocks.Count)];
    }

    /// <summary>One part of this (single-part) optimizer over blocks first … first + count − 1.</summary>
    public OptimizerPart Part(OptimizerSpec spec, int first, int count)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (Composite is not null)
        {
            throw new ArgumentException($"'{Name}' is itself a composite; name its parts per block instead.");
        }

        return new OptimizerPart(this, first, count, spec.Eta0, spec.C1, spec.C2, spec.Epsilon, spec.SignWidth, spec.SignMode);
    }

    /// <summary>Checks the definition is complete and consistent (called when it is registered).</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Name) || Name.Any(char.IsUpper))
        {
            throw new ArgumentException($"An optimizer name must be a non-empty lower-case word; got '{Name}'.");
        }

        if ((Geometry == UpdateGeometry.Defined) != (Direction is not null))
        {
            throw new ArgumentException($"'{Name}': a Defined geometry needs a Direction, and a Direction needs the Defined geometry.");
        }

        bool needsM = Source is UpdateSource.Momentum or UpdateSource.Adam, needsV = Source == UpdateSource.Adam;
        if (Composite is null && ((needsM && !HasMomentum) || (needsV && !HasSecondMoment)))
        {
            throw new ArgumentException($"'{Name}': source {Source} needs the moments it reads.");
        }

        if (MethodCatalog.Find(DefaultMethod) is null)
        {
            throw new ArgumentException($"'{Name}': no stepper '{DefaultMethod}' in the method catalogue.");
        }

        if (!(DefaultEta0 > 0) || DefaultEta0ByActivation.Values.Any(e => !(e > 0)))
        {
            throw new ArgumentException($"'{Name}': default η0 must be positive.");
        }

        if (!(ThetaAbsTolFactor > 0 && ThetaAbsTolFactor <= 1))
        {
            throw new ArgumentException($"'{Name}': θ's absolute tolerance factor must be in (0, 1]; got {ThetaAbsTolFactor}.");
        }
    }
}
