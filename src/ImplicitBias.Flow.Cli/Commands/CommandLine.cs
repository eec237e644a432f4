namespace ImplicitBias.Flow.Cli.Commands;

/// <summary>
/// Splits a verb's arguments into its own options (<c>--name value</c> or flags), positional arguments, and
/// configuration overrides (<c>--Section:Key=value</c>, any option containing ':'), which go to the experiment.
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
                Overrides.Add(a);
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

    public List<string> Positional { get; } = [];

    public List<string> Overrides { get; } = [];

    public bool Has(string option) => _options.ContainsKey(option);

    public string? Value(string option) => _options.TryGetValue(option, out string? v) ? v : null;
}
