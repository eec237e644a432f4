namespace ImplicitBias.Flow.Flows.Schedules;

/// <summary>The learning-rate assumption a theorem of the paper needs (Sec. 2.3).</summary>
public enum ScheduleAssumption
{
    /// <summary>No assumption (plain GD and momentum GD are not covered by the normalized theory).</summary>
    None,

    /// <summary>LR-NSD: ∫η = ∞ (normalized steepest descent, Theorem 3.1).</summary>
    Nsd,

    /// <summary>LR-MSD: LR-NSD and η = o(t^{1/L − 1}) (momentum steepest descent).</summary>
    Msd,

    /// <summary>LR-Adam: LR-MSD and η non-increasing (Adam, Muon-Adam).</summary>
    Adam,
}

/// <summary>Checks a schedule against the assumption an optimizer's theorem needs, for a model of degree L.</summary>
public static class ScheduleAssumptions
{
    /// <summary>
    /// Returns human-readable warnings, empty when the schedule satisfies <paramref name="assumption"/>.
    /// For η ~ t^{−a}: ∫η = ∞ ⇔ a ≤ 1; η = o(t^{1/L−1}) ⇔ a &gt; 1 − 1/L; non-increasing ⇔ a ≥ 0.
    /// </summary>
    public static IReadOnlyList<string> Check(Schedule schedule, ScheduleAssumption assumption, double homogeneity)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        var warnings = new List<string>();
        double a = schedule.Power;
        if (assumption == ScheduleAssumption.None)
        {
            return warnings;
        }

        if (a > 1)
        {
            warnings.Add($"LR-NSD fails: power a = {a} > 1 makes ∫η finite, so the flow stops moving before the loss vanishes.");
        }

        if (assumption is ScheduleAssumption.Msd or ScheduleAssumption.Adam)
        {
            double bound = 1 - (1 / homogeneity);
            if (!(a > bound))
            {
                warnings.Add($"LR-MSD fails: needs η = o(t^(1/L − 1)), i.e. power a > 1 − 1/L = {bound:G4} for L = {homogeneity:G4}; got a = {a}.");
            }
        }

        if (assumption == ScheduleAssumption.Adam && !schedule.IsNonIncreasing)
        {
            warnings.Add($"LR-Adam fails: η must be non-increasing; power a = {a} < 0 makes it grow.");
        }

        return warnings;
    }
}
