namespace ImplicitBias.Flow.Cli.Commands;

/// <summary>
/// A mistake in what the user typed or wrote: printed as one clear message, never as a stack trace.
/// </summary>
internal sealed class UserError(string message) : Exception(message);
