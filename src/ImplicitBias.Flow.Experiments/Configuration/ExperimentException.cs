namespace ImplicitBias.Flow.Experiments.Configuration;

/// <summary>
/// A mistake in an experiment file or an override: names the file, the key, the value and what is allowed.
/// Shown to the user as one line, never with a stack trace.
/// </summary>
public sealed class ExperimentException : Exception
{
    /// <summary>Creates the error.</summary>
    public ExperimentException(string file, string key, string? value, string allowed)
        : base($"{file}: {key} = {(value is null ? "(missing)" : $"'{value}'")} is not valid; {allowed}.")
    {
        File = file;
        Key = key;
        Value = value;
        Allowed = allowed;
    }

    /// <summary>Creates an error about the file as a whole (missing, not JSON).</summary>
    public ExperimentException(string file, string problem)
        : base($"{file}: {problem}")
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
}
