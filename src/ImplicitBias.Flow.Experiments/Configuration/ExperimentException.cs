namespace ImplicitBias.Flow.Experiments.Configuration;

/// <summary>
/// A mistake in an experiment file or an override: names the file, the key, the value and what is allowed.
/// Shown to the user as one line, never with a stack trace.
/// </summary>
public sealed class ExperimentException : Exception
{
    /// <summary>Creates the error.</summary>
    public ExperimentException(string file, string key, string? value, string allowed)
        : base(OneLine($"{file}: {key} = {(value is null ? "(missing)" : $"'{Shorten(value)}'")} is not valid; {allowed}."))
    {
        File = file;
        Key = key;
        Value = value;
        Allowed = allowed;
    }

    /// <summary>Creates an error about the file as a whole (missing, not JSON).</summary>
    public ExperimentException(string file, string problem)
        : base(OneLine($"{file}: {problem}"))
    {
        File = file;
        Key = string.Empty;
        Allowed = problem;
    }

    /// <summary>The experiment file (or "command line").</summary>
    public string File { get; }

    /// <summary>The configuration key, e.g. "Optimizer:Name".</summary>
    public string Key { get; }

    /// <summary>The offending value, or null when it was missing.</summary>
    public string? Value { get; }

    /// <summary>What is allowed.</summary>
    public string Allowed { get; }

    // A value can be anything a user typed (300 characters, a newline, a NUL); the message stays one readable line.
    private static string Shorten(string value) => value.Length <= 80 ? value : value[..77] + "…";

    private static string OneLine(string text)
    {
        var line = new System.Text.StringBuilder(text.Length);
        foreach (char c in text)
        {
            _ = c switch
            {
                '\n' => line.Append("\\n"),
                '\r' => line.Append("\\r"),
                '\0' => line.Append("\\0"),
                _ when char.IsControl(c) => line.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture)),
                _ => line.Append(c),
            };
        }

        return line.ToString();
    }
}
