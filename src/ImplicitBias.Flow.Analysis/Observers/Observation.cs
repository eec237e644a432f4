namespace ImplicitBias.Flow.Analysis.Observers;

/// <summary>A norm the observer measures θ in (docs/mathematics.md §9); each has its own per-norm columns.</summary>
public enum ObservedNorm
{
    /// <summary>ℓ2 (columns <c>*_l2</c>).</summary>
    L2,

    /// <summary>ℓ∞ (columns <c>*_linf</c>).</summary>
    LInf,

    /// <summary>The max-spectral norm over the matrices (columns <c>*_msp</c>; only with more than one block).</summary>
    Msp,

    /// <summary>The optimizer's own norm (columns <c>*_own</c>; <see cref="ObservedFlow.OwnNorm"/>).</summary>
    Own,
}

/// <summary>What is measured in one norm at one save (docs/mathematics.md §9).</summary>
/// <param name="Norm">The norm.</param>
/// <param name="HardMargin">q_min/‖θ‖^L (Eq. 9).</param>
/// <param name="SoftMargin">φ⁻¹(log 1/L)/‖θ‖^L (Eq. 10).</param>
/// <param name="Alignment">⟨θ/‖θ‖, −g/‖g‖⋆⟩ (Theorem C.8).</param>
/// <param name="NormOverEtaIntegral">‖θ‖/∫η (Lemma C.10).</param>
/// <param name="Size">‖θ‖.</param>
public sealed record NormObservation(ObservedNorm Norm, double HardMargin, double SoftMargin, double Alignment, double NormOverEtaIntegral, double Size)
{
    /// <summary>φ⁻¹(log 1/L)/(γ∞ ‖θ‖^L) with γ∞ the run's last hard margin (Lemma C.10); NaN until the run is finished.</summary>
    public double LemmaC10Ratio { get; init; } = double.NaN;
}

/// <summary>The second-moment relations of a part with v (Lemma C.19 for v against g²).</summary>
/// <param name="Ratio">‖v‖₁/‖g²‖₁.</param>
/// <param name="DirectionGap">‖v/‖v‖₁ − g²/‖g²‖₁‖₁.</param>
public sealed record SecondMomentObservation(double Ratio, double DirectionGap);

/// <summary>
/// The preconditioned sharpness at a save (<c>Save:Sharpness</c>): λmax(P⁻¹∇²L) and the discrete optimizer's stability
/// threshold at η(t) (<see cref="Diagnostics.SharpnessResult"/>).
/// </summary>
/// <param name="Largest">λmax(P⁻¹∇²L) (Lanczos, 20 steps on Hessian–vector products).</param>
/// <param name="Threshold">2/η, or (2 + 2β1)/((1 − β1) η) with momentum: past it the discrete optimizer is unstable on the quadratic model.</param>
public sealed record SharpnessObservation(double Largest, double Threshold);

/// <summary>The momentum relations of one part of the flow with a momentum (Lemma C.19), at one save.</summary>
/// <param name="Part">The part's name in a composite flow; null for a one-part flow (plain column names).</param>
/// <param name="MomentumRatio">‖m‖⋆/‖g‖⋆.</param>
/// <param name="MomentumDirectionGap">‖m/‖m‖⋆ − g/‖g‖⋆‖⋆.</param>
/// <param name="MomentumCoordinateShare">The share of J_ε(t) where m follows g to 1 %.</param>
/// <param name="SecondMoment">The second-moment relations, for a part with v (Adam); null otherwise.</param>
public sealed record PartObservation(string? Part, double MomentumRatio, double MomentumDirectionGap, double MomentumCoordinateShare, SecondMomentObservation? SecondMoment);

/// <summary>
/// Everything observed at one saved time of a run (one row of trajectory.csv, docs/mathematics.md §9). The per-norm
/// values are in <see cref="Norms"/>, the per-part momentum relations in <see cref="Parts"/>; the post-run values
/// (<see cref="CosineToLast"/>, <see cref="TimeOverLast"/>, <see cref="NormObservation.LemmaC10Ratio"/>) are NaN until
/// the run is finished. <see cref="TrajectoryFormat"/> is the one mapping to column names.
/// </summary>
public sealed record Observation
{
    /// <summary>t.</summary>
    public required double Time { get; init; }

    /// <summary>log L(θ) computed by the model.</summary>
    public required double LogLoss { get; init; }

    /// <summary>σ, the integrated log L.</summary>
    public required double Sigma { get; init; }

    /// <summary>∫η of the last part.</summary>
    public required double EtaIntegral { get; init; }

    /// <summary>η(t) of the last part.</summary>
    public required double Eta { get; init; }

    /// <summary>The solver's counters (last step size, accepted and rejected steps, evaluations).</summary>
    public required SolverCounters Counters { get; init; }

    /// <summary>q_min(θ).</summary>
    public required double MinMargin { get; init; }

    /// <summary>φ⁻¹(log 1/L) (Eq. 10), NaN while log 1/L ≤ φ(0).</summary>
    public required double PhiInverse { get; init; }

    /// <summary>The per-norm values: ℓ2, ℓ∞, msp (with more than one block) and the own norm, in that order.</summary>
    public required IReadOnlyList<NormObservation> Norms { get; init; }

    /// <summary>‖θ − θ0‖∞/∫η (Lemma B.10).</summary>
    public required double DriftLInfOverEtaIntegral { get; init; }

    /// <summary>‖dθ/dt‖ in the own norm.</summary>
    public required double Speed { get; init; }

    /// <summary>r(t) with ν = ‖dθ/dt‖ (Definition 5.1).</summary>
    public required double RSpeed { get; init; }

    /// <summary>r(t) with ν = η (Definition 5.1).</summary>
    public required double REta { get; init; }

    /// <summary>The momentum relations of each part with a momentum, in the flow's part order.</summary>
    public required IReadOnlyList<PartObservation> Parts { get; init; }

    /// <summary>Activation-pattern changes since the last save; null for a model without a kink activation pattern.</summary>
    public required int? PatternChanges { get; init; }

    /// <summary>Sign switches of the directions' sources since the last save.</summary>
    public required int SignSwitches { get; init; }

    /// <summary>The preconditioned sharpness, when the run asked for it (<c>Save:Sharpness</c>); null otherwise.</summary>
    public SharpnessObservation? Sharpness { get; init; }

    /// <summary>Cosine of θ(t) to the last iterate (post-run, Fig. 1b); NaN until the run is finished.</summary>
    public double CosineToLast { get; init; } = double.NaN;

    /// <summary>t / t_last (post-run); NaN until the run is finished.</summary>
    public double TimeOverLast { get; init; } = double.NaN;

    /// <summary>The values in <paramref name="norm"/>, or null when not measured (msp of a one-block model).</summary>
    public NormObservation? In(ObservedNorm norm)
    {
        foreach (NormObservation n in Norms)
        {
            if (n.Norm == norm)
            {
                return n;
            }
        }

        return null;
    }

    /// <summary>The values in the optimizer's own norm.</summary>
    public NormObservation Own => In(ObservedNorm.Own) ?? throw new InvalidOperationException("The observation has no own-norm values.");
}
