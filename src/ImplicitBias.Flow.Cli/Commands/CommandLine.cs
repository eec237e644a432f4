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
            if (a.StartsWith("--", StringComparison.Ordinal) && a.Contains(':', StringComparison.Ordinal))
            {
                // The configuration library's two spellings; kept as one "--Key=value" string either way.
                if (a.Contains('=', StringComparison.Ordinal))
                {
                    Overrides.Add(a);
                }
                else if (i + 1 < args.Count)
                {
                    Overrides.Add($"{a}={args[++i]}");
                }
                else
                {
                    throw new UserError($"{a} needs a value (--Section:Key=value).");
                }
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
