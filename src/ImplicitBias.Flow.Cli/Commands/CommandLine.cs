namespace ImplicitBias.Flow.Cli.Commands;

/// <summary>
/// Splits a verb's arguments into its own options (<c>--name value</c> or flags), positional arguments, and
/// configuration overrides (<c>--Section:Key=value</c> or <c>--Section:Key value</c>, any option containing ':'),
/// which go to the experiment. Every verb parses its arguments here, so they all accept the same forms.
/// </summary>
internal sealed class CommandLine
{
    private readonly Dictionary<string, string?> _options = new(StringComparer.Ordinal);

    public CommandLine(IReadOnlyList<string> args, IReadOnlyCollection<string> valueOptions, IReadOnlyCollection<string> flags, string verb)
    {
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            int eq = a.IndexOf('=', StringComparison.Ordinal);
            string head = eq >= 0 ? a[..eq] : a;
            if (eq >= 0 && valueOptions.Contains(head))
            {
                _options[head] = a[(eq + 1)..];
            }
            else if (eq >= 0 && flags.Contains(head))
            {
                throw new UserError($"{head} takes no value.");
            }
            else if (flags.Contains(a))
            {
                _options[a] = null;
            }
            else if (valueOptions.Contains(a))
            {
                if (i + 1 >= args.Count)
                {
                    throw new UserError($"{a} needs a value.");
                }

                _options[a] = args[++i];
            }
            else if (IsSetting(head) || (eq > 2 && head.StartsWith("--", StringComparison.Ordinal)))
            {
                // The configuration library's two spellings; kept as one "--Key=value" string either way. Top-level keys
                // (--Loss=logistic, --Seeds=1,2, --Name run1) are settings too: a key, not a verb's option.
                if (eq >= 0)
                {
                    Overrides.Add(a);
                }
                else if (i + 1 < args.Count)
                {
                    Overrides.Add($"{a}={args[++i]}");
                }
                else
                {
                    throw new UserError($"{a} needs a value (--Section:Key=value or --Key=value).");
                }
            }
            else if (a.StartsWith('-'))
            {
                throw new UserError($"unknown option '{a}'; options of '{verb}': {string.Join(", ", valueOptions.Concat(flags).Append("--Section:Key=value"))}.");
            }
            else
            {
                Positional.Add(a);
            }
        }
    }

    // "--Section:Key" or "--Key=…" (any key), or "--Key" spelled with a capital as experiment keys are; a lower-case
    // "--word" without a value is a verb's option, so a misspelled option is still reported as unknown.
    private static bool IsSetting(string head) =>
        head.Length > 2 && head.StartsWith("--", StringComparison.Ordinal) && head[2] != '-'
        && (head.Contains(':', StringComparison.Ordinal) || char.IsUpper(head[2]));

    /// <summary>True when the arguments ask for help (<c>--help</c> or <c>-h</c>), whatever else they hold.</summary>
    public static bool WantsHelp(IReadOnlyList<string> args) => args.Contains("--help") || args.Contains("-h");

    public List<string> Positional { get; } = [];

    /// <summary>The one experiment file of a verb that needs one; a user error naming the usage otherwise.</summary>
    public string SingleExperiment(string usage)
    {
        return Positional.Count switch
        {
            1 => Positional[0],
            0 => throw new UserError($"give an experiment file: {usage}"),
            _ => throw new UserError($"expected one experiment file, got {Positional.Count}: {string.Join(" ", Positional)} ({usage})"),
        };
    }

    public List<string> Overrides { get; } = [];

    public bool Has(string option) => _options.ContainsKey(option);

    public string? Value(string option) => _options.TryGetValue(option, out string? v) ? v : null;
}
