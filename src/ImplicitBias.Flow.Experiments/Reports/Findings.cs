using System.Globalization;
using ImplicitBias.Flow.Plotting;

namespace ImplicitBias.Flow.Experiments.Reports;

/// <summary>Mean and two-sided 95 % Student-t confidence interval of one quantity over seeds.</summary>
/// <param name="N">Number of seeds with a finite value.</param>
/// <param name="Mean">The mean.</param>
/// <param name="Lower">Lower end (NaN for fewer than two seeds).</param>
/// <param name="Upper">Upper end (NaN for fewer than two seeds).</param>
public readonly record struct Interval(int N, double Mean, double Lower, double Upper)
{
    /// <summary>The interval of <paramref name="values"/> (non-finite values are left out).</summary>
    public static Interval Of(IEnumerable<double> values)
    {
        double[] v = values.Where(double.IsFinite).ToArray();
        if (v.Length == 0)
        {
            return new Interval(0, double.NaN, double.NaN, double.NaN);
        }

        double mean = v.Average();
        if (v.Length == 1)
        {
            return new Interval(1, mean, double.NaN, double.NaN);
        }

        double sd = Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1));
        double half = SeedAggregate.TQuantile(0.95, v.Length - 1) * sd / Math.Sqrt(v.Length);
        return new Interval(v.Length, mean, mean - half, mean + half);
    }

    /// <summary>Both ends known (two seeds or more).</summary>
    public bool HasCi => double.IsFinite(Lower) && double.IsFinite(Upper);

    /// <inheritdoc />
    public override string ToString() => HasCi
        ? string.Create(CultureInfo.InvariantCulture, $"{Mean:G4} [{Lower:G4}, {Upper:G4}] (n={N})")
        : string.Create(CultureInfo.InvariantCulture, $"{Mean:G4} (n={N})");
}

/// <summary>One of the paper's findings checked on a group of runs.</summary>
/// <param name="Name">The finding, in the paper's words, with the setting and kind (flow/discrete) it was checked on.</param>
/// <param name="Verdict">holds, does not hold, or inconclusive.</param>
/// <param name="Statistic">How the verdict was reached (and why, when inconclusive).</param>
/// <param name="Values">The numbers: optimizer → mean [95 % CI] (n).</param>
public sealed record Finding(string Name, string Verdict, string Statistic, IReadOnlyDictionary<string, string> Values);

/// <summary>
/// The paper's findings (Sec. 5, Fig. 1 and 2) as verdicts over seeds: an optimizer "has the largest margin" when
/// its 95 % confidence interval over seeds lies above every other optimizer's (CI separation); it "does not"
/// when another's interval lies above its own; otherwise (overlap, one seed, a missing optimizer) it is inconclusive.
/// </summary>
public static class Findings
{
    /// <summary>The verdict words.</summary>
    public const string Holds = "holds", DoesNotHold = "does not hold", Inconclusive = "inconclusive";

    /// <summary>Smallest cosine to the last iterate over the second half of a run for directional convergence (Fig. 1b).</summary>
    public const double CosineThreshold = 0.99;

    /// <summary>Every finding on every setting and kind of run present in <paramref name="runs"/>.</summary>
    public static IReadOnlyList<Finding> Evaluate(IReadOnlyList<ReportRun> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var findings = new List<Finding>();
        foreach (IGrouping<(string Setting, string Kind), ReportRun> group in runs.Where(r => r.Usable).GroupBy(r => (r.Setting, r.Kind)).OrderBy(g => g.Key.Setting, StringComparer.Ordinal).ThenBy(g => g.Key.Kind == "discrete"))
        {
            string where = $" [{group.Key.Setting}; {group.Key.Kind}]";
            // Margins are compared where the paper compares them, at the target loss: runs stopped earlier (MaxTime,
            // MaxSteps) have not reached it and are left out of the margin rows (they still count for the cosine row).
            Dictionary<string, Interval> Metric(string norm) =>
                group.Where(r => r.Status == "target-reached").GroupBy(r => r.Optimizer).ToDictionary(g => g.Key, g => Interval.Of(g.Select(r => r.Margins[norm])), StringComparer.Ordinal);

            findings.Add(Largest("NGD (with and without momentum) has the largest ℓ2 margin" + where, Metric("l2"), ["ngd", "nmomentum"]));
            findings.Add(Largest("Signum and Adam have the largest ℓ∞ margin" + where, Metric("linf"), ["signum", "adam"]));
            findings.Add(Above("Signum's ℓ∞ margin is above Adam's" + where, Metric("linf"), "signum", "adam"));
            findings.Add(Largest("Muon has the largest msp margin" + where, Metric("msp"), ["muon"]));
            Dictionary<string, Interval> msp = Metric("msp");
            msp.Remove("muon");
            findings.Add(msp.Count == Metric("msp").Count
                ? new Finding("NGD has the second largest msp margin (after Muon)" + where, Inconclusive, "muon is not in the sweep", Show(msp))
                : Largest("NGD has the second largest msp margin (after Muon)" + where, msp, ["ngd"]));
            findings.Add(new Finding(
                "Muon-Adam has the largest max{(η0ᴬ/η0ᴹ)‖W‖msp, ‖u‖∞} margin" + where,
                Inconclusive,
                "not computed: summary.json gives each optimizer's margin in its own norm only; Muon-Adam's norm of the other optimizers' final iterates is left for later",
                Show(Metric("own"))));
            findings.Add(Cosine("cosine to the last iterate ≥ 0.99 over the second half of every trajectory" + where, group.ToArray()));
        }

        findings.AddRange(Agreement(findings).ToArray());
        return findings;
    }

    // The group's members each lie above every other optimizer.
    private static Finding Largest(string name, IReadOnlyDictionary<string, Interval> byOptimizer, string[] winners)
    {
        IReadOnlyDictionary<string, string> values = Show(byOptimizer);
        string[] present = winners.Where(byOptimizer.ContainsKey).ToArray();
        string[] others = byOptimizer.Keys.Except(winners).ToArray();
        if (present.Length == 0)
        {
            return new Finding(name, Inconclusive, $"{string.Join(" and ", winners)} not in the sweep (or no run of it reached the target loss)", values);
        }

        if (others.Length == 0)
        {
            return new Finding(name, Inconclusive, "no other optimizer to compare with", values);
        }

        if (byOptimizer.Values.Any(i => !i.HasCi))
        {
            return new Finding(name, Inconclusive, "needs two seeds or more per optimizer for a 95 % CI", values);
        }

        string statistic = $"95 % CI separation over seeds (t interval), among {string.Join(", ", byOptimizer.Keys.Order(StringComparer.Ordinal))}";
        if (present.All(w => others.All(o => byOptimizer[w].Lower > byOptimizer[o].Upper)))
        {
            return new Finding(name, Holds, statistic, values);
        }

        return present.Any(w => others.Any(o => byOptimizer[o].Lower > byOptimizer[w].Upper))
            ? new Finding(name, DoesNotHold, statistic + "; another optimizer's CI lies above", values)
            : new Finding(name, Inconclusive, statistic + "; the CIs overlap", values);
    }

    private static Finding Above(string name, Dictionary<string, Interval> byOptimizer, string upper, string lower)
    {
        var values = Show(byOptimizer.Where(p => p.Key == upper || p.Key == lower).ToDictionary(p => p.Key, p => p.Value));
        if (!byOptimizer.TryGetValue(upper, out Interval a) || !byOptimizer.TryGetValue(lower, out Interval b))
        {
            return new Finding(name, Inconclusive, $"{(byOptimizer.ContainsKey(upper) ? lower : upper)} not in the sweep", values);
        }

        if (!a.HasCi || !b.HasCi)
        {
            return new Finding(name, Inconclusive, "needs two seeds or more for a 95 % CI", values);
        }

        const string statistic = "95 % CI separation over seeds (t interval)";
        return a.Lower > b.Upper ? new Finding(name, Holds, statistic, values)
            : b.Lower > a.Upper ? new Finding(name, DoesNotHold, statistic + "; the order is reversed", values)
            : new Finding(name, Inconclusive, statistic + "; the CIs overlap", values);
    }

    private static Finding Cosine(string name, IReadOnlyList<ReportRun> runs)
    {
        var values = runs.GroupBy(r => r.Optimizer).ToDictionary(
            g => g.Key,
            g => string.Create(CultureInfo.InvariantCulture, $"min {g.Min(r => r.SecondHalfMinCosineToLast):G6} over {g.Count()} seed(s)"),
            StringComparer.Ordinal);
        ReportRun[] unknown = runs.Where(r => !double.IsFinite(r.SecondHalfMinCosineToLast)).ToArray();
        ReportRun[] below = runs.Where(r => r.SecondHalfMinCosineToLast < CosineThreshold).ToArray();
        const string statistic = "secondHalfMinCosineToLast of every run (summary.json) against 0.99";
        return below.Length > 0 ? new Finding(name, DoesNotHold, $"{statistic}; below in {string.Join(", ", below.Select(r => r.Folder))}", values)
            : unknown.Length > 0 ? new Finding(name, Inconclusive, $"{statistic}; unknown in {unknown.Length} run(s)", values)
            : new Finding(name, Holds, statistic, values);
    }

    // Whether the discrete runs agree with their flows: the same verdict on the same finding and setting.
    private static IEnumerable<Finding> Agreement(IReadOnlyList<Finding> findings)
    {
        foreach (Finding flow in findings.Where(f => f.Name.EndsWith("; flow]", StringComparison.Ordinal)))
        {
            string stem = flow.Name[..^"; flow]".Length];
            if (findings.FirstOrDefault(f => f.Name == stem + "; discrete]") is not { } discrete)
            {
                continue;
            }

            var values = new Dictionary<string, string>(StringComparer.Ordinal) { ["flow"] = flow.Verdict, ["discrete"] = discrete.Verdict };
            string name = "discrete runs agree with their flows: " + stem + "]";
            yield return flow.Verdict == Inconclusive || discrete.Verdict == Inconclusive
                ? new Finding(name, Inconclusive, "the same verdict for both kinds; one of them is inconclusive", values)
                : new Finding(name, flow.Verdict == discrete.Verdict ? Holds : DoesNotHold, "the same verdict for both kinds", values);
        }
    }

    private static Dictionary<string, string> Show(IReadOnlyDictionary<string, Interval> byOptimizer) =>
        byOptimizer.OrderBy(p => p.Key, StringComparer.Ordinal).ToDictionary(p => p.Key, p => p.Value.ToString(), StringComparer.Ordinal);
}
