using ImplicitBias.Flow.Experiments.Reports;

namespace ImplicitBias.Flow.Cli.Commands;

/// <summary><c>ibflow report DIR [--out FILE.html]</c>: one self-contained HTML report and report.json of every run folder under DIR.</summary>
internal sealed class ReportCommand : ICommand
{
    /// <inheritdoc />
    public string Name => "report";

    /// <inheritdoc />
    public string Summary => "one HTML report and report.json of a sweep: Fig. 1a/1b per setting and the paper's findings with verdicts";

    /// <inheritdoc />
    public int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        if (CommandLine.WantsHelp(args))
        {
            output.WriteLine("Usage: ibflow report DIR [--out FILE.html]");
            output.WriteLine("  Reads every run folder under DIR (config.json, summary.json, trajectory.csv; any depth) and writes one");
            output.WriteLine("  self-contained HTML page (default DIR/report.html; plotly.js inlined, opens offline) and report.json beside it:");
            output.WriteLine("  per setting, final hard margins per optimizer in l2, linf, msp and own norm (mean and 95 % CI over seeds, flows and");
            output.WriteLine("  discrete runs side by side), cosine to the last iterate against t/t_last, margins against the loss, and the");
            output.WriteLine("  paper's findings with a verdict each (holds / does not hold / inconclusive, by 95 % CI separation over seeds, or a paired t interval over common seeds where the CIs overlap).");
            return 0;
        }

        var line = new CommandLine(args, ["--out"], [], Name);
        if (line.Overrides.Count > 0)
        {
            throw new UserError($"ibflow report takes no settings ({line.Overrides[0]}); it reads the runs' own config.json.");
        }

        string dir = line.Positional.Count == 1 ? line.Positional[0] : throw new UserError("give one folder of runs: ibflow report DIR [--out FILE.html]");
        if (!Directory.Exists(dir))
        {
            throw new UserError($"{dir}: folder not found; give the folder a sweep (or ibflow run) wrote.");
        }

        string html = line.Value("--out") ?? Path.Combine(dir, "report.html");
        if (!html.EndsWith(".html", StringComparison.OrdinalIgnoreCase) || html.Contains('\0', StringComparison.Ordinal) || Directory.Exists(html))
        {
            throw new UserError($"--out '{html}' must name an .html file (report.json is written beside it).");
        }

        int runs = ReportRun.ReadAll(dir).Count;
        if (runs == 0)
        {
            throw new UserError($"{dir}: no run folder (with config.json and summary.json) under it.");
        }

        IReadOnlyList<Finding> findings = SweepReport.Write(dir, html);
        output.WriteLine($"{runs} run(s) read; {findings.Count} finding row(s): {findings.Count(f => f.Verdict == Findings.Holds)} hold, {findings.Count(f => f.Verdict == Findings.DoesNotHold)} do not hold, {findings.Count(f => f.Verdict == Findings.Inconclusive)} inconclusive.");
        foreach (Finding f in findings)
        {
            output.WriteLine($"  {f.Verdict,-13} {f.Name}");
        }

        output.WriteLine($"Report: {html} (and {Path.Combine(Path.GetDirectoryName(html) ?? ".", "report.json")})");
        return 0;
    }
}
