namespace ImplicitBias.Flow.Analysis.Observers;

/// <summary>
/// The column names of a trajectory (trajectory.csv, docs/mathematics.md §9), named in one place. Only
/// <see cref="TrajectoryFormat"/> maps them to the typed <see cref="Observation"/>; everything else reads the types
/// (the names appear elsewhere only as labels, e.g. the quantity of a verify row).
/// </summary>
public static class TrajectoryColumns
{
    /// <summary>t.</summary>
    public const string Time = "t";

    /// <summary>log L(θ) computed by the model.</summary>
    public const string LogLoss = "logLoss";

    /// <summary>σ, the integrated log L.</summary>
    public const string Sigma = "sigma";

    /// <summary>∫η.</summary>
    public const string EtaIntegral = "etaIntegral";

    /// <summary>η(t) (of the last part).</summary>
    public const string Eta = "eta";

    /// <summary>The stepper's last step size.</summary>
    public const string StepSize = "stepSize";

    /// <summary>Accepted steps so far.</summary>
    public const string AcceptedSteps = "acceptedSteps";

    /// <summary>Rejected steps so far.</summary>
    public const string RejectedSteps = "rejectedSteps";

    /// <summary>Right-hand side evaluations so far.</summary>
    public const string RhsEvaluations = "rhsEvaluations";

    /// <summary>q_min(θ).</summary>
    public const string MinMargin = "minMargin";

    /// <summary>φ⁻¹(log 1/L) (Eq. 10).</summary>
    public const string PhiInverse = "phiInverse";

    /// <summary>‖θ − θ0‖∞/∫η (Lemma B.10).</summary>
    public const string DriftLinfOverEtaIntegral = "driftLinfOverEtaIntegral";

    /// <summary>‖dθ/dt‖ in the own norm.</summary>
    public const string Speed = "speed";

    /// <summary>r(t) with ν = ‖dθ/dt‖ (Definition 5.1).</summary>
    public const string RSpeed = "rSpeed";

    /// <summary>r(t) with ν = η (Definition 5.1).</summary>
    public const string REta = "rEta";

    /// <summary>Activation-pattern changes since the last save.</summary>
    public const string PatternChanges = "patternChanges";

    /// <summary>Sign switches of the sources since the last save.</summary>
    public const string SignSwitches = "signSwitches";

    /// <summary>λmax(P⁻¹∇²L), the preconditioned sharpness (only with Save:Sharpness).</summary>
    public const string Sharpness = "sharpness";

    /// <summary>The discrete optimizer's stability threshold on the sharpness at η(t) (only with Save:Sharpness).</summary>
    public const string SharpnessThreshold = "sharpnessThreshold";

    /// <summary>Cosine of θ(t) to the last iterate (post-run, Fig. 1b).</summary>
    public const string CosineToLast = "cosineToLast";

    /// <summary>t / t_last (post-run).</summary>
    public const string TimeOverLast = "tOverTLast";

    /// <summary>The name of the optimizer's own norm in the per-norm columns.</summary>
    public const string Own = "own";

    /// <summary>q_min/‖θ‖^L in <paramref name="norm"/> (l2, linf, msp, own).</summary>
    public static string HardMargin(string norm) => $"hardMargin_{norm}";

    /// <summary>φ⁻¹(log 1/L)/‖θ‖^L in <paramref name="norm"/>.</summary>
    public static string SoftMargin(string norm) => $"softMargin_{norm}";

    /// <summary>⟨θ/‖θ‖, −g/‖g‖⋆⟩ in <paramref name="norm"/>.</summary>
    public static string Alignment(string norm) => $"alignment_{norm}";

    /// <summary>‖θ‖/∫η in <paramref name="norm"/> (Lemma C.10).</summary>
    public static string NormOverEtaIntegral(string norm) => $"normOverEtaIntegral_{norm}";

    /// <summary>‖θ‖ in <paramref name="norm"/>.</summary>
    public static string Norm(string norm) => $"norm_{norm}";

    /// <summary>φ⁻¹(log 1/L)/(γ∞ ‖θ‖^L) in <paramref name="norm"/> (post-run, Lemma C.10).</summary>
    public static string LemmaC10Ratio(string norm) => $"lemmaC10Ratio_{norm}";

    /// <summary>‖m‖⋆/‖g‖⋆ of a part (Lemma C.19); <paramref name="part"/> null for a one-part flow, else the part's name.</summary>
    public static string MomentumRatio(string? part) => PerPart("momentumRatio", part);

    /// <summary>The direction gap of m and g of a part (Lemma C.19).</summary>
    public static string MomentumDirectionGap(string? part) => PerPart("momentumDirectionGap", part);

    /// <summary>The share of coordinates where m follows g, of a part.</summary>
    public static string MomentumCoordinateShare(string? part) => PerPart("momentumCoordinateShare", part);

    /// <summary>‖v‖₁/‖g²‖₁ of a part (Lemma C.19 for v).</summary>
    public static string SecondMomentRatio(string? part) => PerPart("secondMomentRatio", part);

    /// <summary>The direction gap of v and g² of a part.</summary>
    public static string SecondMomentDirectionGap(string? part) => PerPart("secondMomentDirectionGap", part);

    /// <summary>
    /// The columns of a per-part quantity (<paramref name="column"/>, e.g. <see cref="MomentumRatio"/>) among
    /// <paramref name="columns"/>, each with its part (null for a one-part flow), in the order given.
    /// </summary>
    public static IEnumerable<(string Column, string? Part)> PerPartColumns(IEnumerable<string> columns, Func<string?, string> column)
    {
        ArgumentNullException.ThrowIfNull(columns);
        ArgumentNullException.ThrowIfNull(column);
        string plain = column(null);
        foreach (string c in columns)
        {
            if (c == plain)
            {
                yield return (c, null);
            }
            else if (c.StartsWith(plain + "_", StringComparison.Ordinal))
            {
                yield return (c, c[(plain.Length + 1)..]);
            }
        }
    }

    private static string PerPart(string column, string? part) => part is null ? column : $"{column}_{part}";
}
