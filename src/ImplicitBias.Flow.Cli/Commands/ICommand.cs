namespace ImplicitBias.Flow.Cli.Commands;

/// <summary>One verb of the <c>ibflow</c> program.</summary>
internal interface ICommand
{
    /// <summary>The verb as typed on the command line.</summary>
    string Name { get; }

    /// <summary>One line for <c>ibflow --help</c>.</summary>
    string Summary { get; }

    /// <summary>Runs the verb with the arguments after it; returns the process exit code.</summary>
    int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error);
}
