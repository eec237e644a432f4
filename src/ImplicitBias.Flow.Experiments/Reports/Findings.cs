using System.Globalization;
using ImplicitBias.Flow.Analysis.Observers;
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
            ReportRun[] reached = group.Where(r => r.Status == "target-reached").ToArray();
            BySeed Metric(ObservedNorm norm) => BySeed.Of(reached, r => r.Margins[norm]);

            findings.Add(Largest("NGD (with and without momentum) has the largest ℓ2 margin" + where, Metric(ObservedNorm.L2), ["ngd", "nmomentum"]));
            findings.Add(Largest("Signum and Adam have the largest ℓ∞ margin" + where, Metric(ObservedNorm.LInf), ["signum", "adam"]));
            findings.Add(Above("Signum's ℓ∞ margin is above Adam's" + where, Metric(ObservedNorm.LInf), "signum", "adam"));
            findings.Add(Largest("Muon has the largest msp margin" + where, Metric(ObservedNorm.Msp), ["muon"]));
            BySeed msp = Metric(ObservedNorm.Msp);
            findings.Add(!msp.ContainsKey("muon")
                ? new Finding("NGD has the second largest msp margin (after Muon)" + where, Inconclusive, "muon is not in the sweep", msp.Show())
                : Largest("NGD has the second largest msp margin (after Muon)" + where, msp.Without("muon"), ["ngd"]));

            // Theorem 3.7's norm, evaluated on every optimizer's final θ (CompositeMargin); the weight r = η0ᴬ/η0ᴹ is
            // the Muon-Adam runs' own (the same runs all other optimizers are compared against).
            string muonAdamName = "Muon-Adam has the largest max{(η0ᴬ/η0ᴹ)‖W‖msp, ‖u‖∞} margin" + where;
            CompositeMargin? muonAdam = CompositeMargin.In(group).FirstOrDefault(c => c.Optimizer == "muon-adam");
            if (muonAdam is null)
            {
                findings.Add(new Finding(muonAdamName, Inconclusive, "muon-adam not in the sweep", new Dictionary<string, string>()));
            }
            else
            {
                Finding f = Largest(muonAdamName, BySeed.Of(reached, r => muonAdam.Of(r)), ["muon-adam"]);
                findings.Add(f with { Statistic = $"in {muonAdam.Description} (r = η0ᴬ/η0ᴹ of the muon-adam runs) on every run's theta_final.npy; " + f.Statistic });
            }

            findings.Add(Cosine("cosine to the last iterate ≥ 0.99 over the second half of every trajectory" + where, group.ToArray()));
        }

        findings.AddRange(Agreement(findings).ToArray());
        return findings;
    }

    // The group's members each lie above every other optimizer: decided by 95 % CI separation when that decides, else
    // by paired differences over the seeds both optimizers share (a sweep runs every optimizer from the same data and
    // θ(0) per seed, so differences per seed remove the seed-to-seed spread that the unpaired intervals carry).
    private static Finding Largest(string name, BySeed byOptimizer, string[] winners)
    {
        IReadOnlyDictionary<string, string> values = byOptimizer.Show();
        string[] present = winners.Where(byOptimizer.ContainsKey).ToArray();
        string[] others = byOptimizer.Optimizers.Except(winners).ToArray();
        if (present.Length == 0)
        {
            return new Finding(name, Inconclusive, $"{string.Join(" and ", winners)} not in the sweep (or no run of it reached the target loss)", values);
        }

        if (others.Length == 0)
        {
            return new Finding(name, Inconclusive, "no other optimizer to compare with", values);
        }

        (string Winner, string Other)[] pairs = present.SelectMany(w => others.Select(o => (w, o))).ToArray();
        return Decide(name, byOptimizer, pairs, $"among {string.Join(", ", byOptimizer.Optimizers)}", values);
    }

    private static Finding Above(string name, BySeed byOptimizer, string upper, string lower)
    {
        BySeed two = byOptimizer.Only(upper, lower);
        IReadOnlyDictionary<string, string> values = two.Show();
        if (!two.ContainsKey(upper) || !two.ContainsKey(lower))
        {
            return new Finding(name, Inconclusive, $"{(two.ContainsKey(upper) ? lower : upper)} not in the sweep", values);
        }

        return Decide(name, two, [(upper, lower)], $"{upper} against {lower}", values);
    }

    // Holds when every (winner, other) pair is separated upwards, does not hold when some pair is separated the other
    // way, by (1) 95 % CI separation of the two means, else (2) a 95 % paired t interval of winner − other over their
    // common seeds lying above (or below) zero.
    private static Finding Decide(string name, BySeed byOptimizer, IReadOnlyList<(string Winner, string Other)> pairs, string among, IReadOnlyDictionary<string, string> values)
    {
        if (pairs.SelectMany(p => new[] { p.Winner, p.Other }).Any(o => !byOptimizer.Interval(o).HasCi))
        {
            return new Finding(name, Inconclusive, "needs two seeds or more per optimizer for a 95 % CI", values);
        }

        var verdicts = new List<(int Sign, string How)>();
        foreach ((string w, string o) in pairs)
        {
            Interval a = byOptimizer.Interval(w), b = byOptimizer.Interval(o);
            if (a.Lower > b.Upper || b.Lower > a.Upper)
            {
                verdicts.Add((a.Lower > b.Upper ? 1 : -1, "CI separation"));
                continue;
            }

            Interval d = byOptimizer.PairedDifference(w, o);
            verdicts.Add(d.HasCi && d.Lower > 0 ? (1, $"paired over {d.N} seeds")
                : d.HasCi && d.Upper < 0 ? (-1, $"paired over {d.N} seeds")
                : (0, d.HasCi ? $"paired difference {w} − {o} = {d}" : "fewer than two common seeds"));
        }

        string how = string.Join("; ", pairs.Zip(verdicts, (p, v) => $"{p.Winner} vs {p.Other}: {v.How}").Distinct());
        string statistic = $"95 % CI separation over seeds (t interval), else a 95 % paired t interval over common seeds, {among} ({how})";
        return verdicts.All(v => v.Sign > 0) ? new Finding(name, Holds, statistic, values)
            : verdicts.Any(v => v.Sign < 0) ? new Finding(name, DoesNotHold, statistic + "; the order is reversed for at least one pair", values)
            : new Finding(name, Inconclusive, statistic + "; the CIs overlap and the paired differences do not decide", values);
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
}

/// <summary>One quantity of each optimizer's runs, by seed (the sweep's pairing), with the intervals the verdicts use.</summary>
internal sealed class BySeed
{
    private readonly SortedDictionary<string, SortedDictionary<ulong, double>> _values;

    private BySeed(SortedDictionary<string, SortedDictionary<ulong, double>> values) => _values = values;

    /// <summary>The finite values of <paramref name="value"/> over <paramref name="runs"/>, by optimizer and seed.</summary>
    public static BySeed Of(IEnumerable<ReportRun> runs, Func<ReportRun, double> value)
    {
        var values = new SortedDictionary<string, SortedDictionary<ulong, double>>(StringComparer.Ordinal);
        foreach (ReportRun run in runs)
        {
            double v = value(run);
            if (!values.TryGetValue(run.Optimizer, out SortedDictionary<ulong, double>? bySeed))
            {
                values[run.Optimizer] = bySeed = [];
            }

            if (double.IsFinite(v))
            {
                bySeed[run.Seed] = v;
            }
        }

        return new BySeed(values);
    }

    /// <summary>The optimizers present (in ordinal order).</summary>
    public IEnumerable<string> Optimizers => _values.Keys;

    /// <summary>Whether <paramref name="optimizer"/> has runs here.</summary>
    public bool ContainsKey(string optimizer) => _values.ContainsKey(optimizer);

    /// <summary>Mean and 95 % CI of one optimizer over its seeds.</summary>
    public Interval Interval(string optimizer) => Reports.Interval.Of(_values[optimizer].Values);

    /// <summary>Mean and 95 % CI of a − b over the seeds both have.</summary>
    public Interval PairedDifference(string a, string b) =>
        Reports.Interval.Of(_values[a].Where(p => _values[b].ContainsKey(p.Key)).Select(p => p.Value - _values[b][p.Key]));

    /// <summary>The same without <paramref name="optimizer"/>.</summary>
    public BySeed Without(string optimizer) => new(new SortedDictionary<string, SortedDictionary<ulong, double>>(_values.Where(p => p.Key != optimizer).ToDictionary(p => p.Key, p => p.Value), StringComparer.Ordinal));

    /// <summary>Only the optimizers named.</summary>
    public BySeed Only(params string[] optimizers) => new(new SortedDictionary<string, SortedDictionary<ulong, double>>(_values.Where(p => optimizers.Contains(p.Key)).ToDictionary(p => p.Key, p => p.Value), StringComparer.Ordinal));

    /// <summary>optimizer → "mean [95 % CI] (n)".</summary>
    public IReadOnlyDictionary<string, string> Show() => _values.ToDictionary(p => p.Key, p => Reports.Interval.Of(p.Value.Values).ToString(), StringComparer.Ordinal);
}
