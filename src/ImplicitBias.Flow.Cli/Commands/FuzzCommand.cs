using System.Globalization;
using ImplicitBias.Flow.Cli.Fuzzing;

namespace ImplicitBias.Flow.Cli.Commands;

/// <summary>
/// <c>ibflow fuzz [--cases N] [--seed S] [--timeout SEC]</c>: the nightly-size run of the hostile-input generator
/// that the tests run with 500 cases (see <see cref="HostileInputs"/>). Exit 0 when every case ended in a one-line
/// error or a sensible run, 1 otherwise (each failure listed with its seed, case and description).
/// </summary>
internal sealed class FuzzCommand : ICommand
{
    public string Name => "fuzz";

    public string Summary => "feed ibflow N generated hostile inputs (bad numbers, keys, files, arguments) and report any crash or hang";

    public int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        if (CommandLine.WantsHelp(args))
        {
            output.WriteLine("Usage: ibflow fuzz [--cases N] [--seed S] [--timeout SEC] [--list]");
            output.WriteLine("  Generates N (default 2000) seeded mutations of a tiny experiment and runs each in this process; every");
            output.WriteLine("  case must end in a one-line error or a sensible run (summary.json written, config.json holding the values");
            output.WriteLine("  given). Lists every crash, hang, messy error or accepted bad value; exit 1 if there is any.");
            output.WriteLine("  --seed S (default 1) picks the cases; --timeout SEC (default 60) is the per-case limit; --list prints every case.");
            return 0;
        }

        var line = new CommandLine(args, ["--cases", "--seed", "--timeout"], ["--list"], Name);
        if (line.Positional.Count > 0 || line.Overrides.Count > 0)
        {
            throw new UserError("ibflow fuzz takes no experiment or settings; see ibflow fuzz --help.");
        }

        int cases = (int)Number(line, "--cases", 2000, 1, 10_000_000);
        ulong seed = (ulong)Number(line, "--seed", 1, 0, long.MaxValue);
        double timeout = Number(line, "--timeout", 60, 1, 86_400);
        string root = Directory.CreateTempSubdirectory("ibflow-fuzz-").FullName;
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var failures = new List<FuzzOutcome>();
        try
        {
            HostileInputs.RunMany(seed, cases, root, TimeSpan.FromSeconds(timeout), o =>
            {
                counts[o.Verdict] = counts.GetValueOrDefault(o.Verdict) + 1;
                if (line.Has("--list"))
                {
                    output.WriteLine($"case {o.Case.Index} [{o.Verdict}] {o.Case.Description}: {o.Detail}");
                }

                if (!o.Acceptable)
                {
                    failures.Add(o);
                    output.WriteLine($"FAIL seed {seed} case {o.Case.Index} [{o.Verdict}] {o.Case.Description}: {o.Detail}");
                }
            });
        }
        finally
        {
            if (failures.All(f => f.Verdict != "hang"))
            {
                Directory.Delete(root, recursive: true);
            }
        }

        output.WriteLine($"{cases} cases (seed {seed}): {string.Join(", ", counts.Select(p => $"{p.Value} {p.Key}"))}.");
        return failures.Count == 0 ? 0 : 1;
    }

    private static double Number(CommandLine line, string option, double defaultValue, double min, double max)
    {
        string? text = line.Value(option);
        if (text is null)
        {
            return defaultValue;
        }

        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v >= min && v <= max && v == Math.Floor(v)
            ? v
            : throw new UserError($"{option} '{text}' must be a whole number in [{min}, {max}].");
    }
}
