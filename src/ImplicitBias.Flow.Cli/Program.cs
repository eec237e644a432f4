using ImplicitBias.Flow.Cli.Commands;

namespace ImplicitBias.Flow.Cli;

/// <summary>Entry point of the <c>ibflow</c> command-line program.</summary>
public static class Program
{
    /// <summary>Dispatches to a verb; prints help for none or <c>--help</c>.</summary>
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>Runs the program with the given writers (used by tests).</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        IReadOnlyList<ICommand> commands = CommandRegistry.Create();
        if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
        {
            PrintHelp(commands, output);
            return 0;
        }

        if (args[0] is "--version" or "version")
        {
            output.WriteLine(ToolVersion.Describe());
            return 0;
        }

        ICommand? command = commands.FirstOrDefault(c => c.Name == args[0]);
        if (command is null)
        {
            error.WriteLine($"ibflow: unknown command '{args[0]}'. Commands: {string.Join(", ", commands.Select(c => c.Name))}.");
            return 2;
        }

        try
        {
            return command.Run(args.Skip(1).ToArray(), output, error);
        }
        catch (UserError e)
        {
            error.WriteLine($"ibflow {command.Name}: {e.Message}");
            return 2;
        }
    }

    private static void PrintHelp(IReadOnlyList<ICommand> commands, TextWriter output)
    {
        output.WriteLine("ibflow — simulate the continuous-time flows of optimizers on homogeneous networks.");
        output.WriteLine();
        output.WriteLine("Usage: ibflow <command> [options]   (ibflow <command> --help for its options; ibflow --version)");
        output.WriteLine();
        output.WriteLine("Commands:");
        foreach (ICommand c in commands)
        {
            output.WriteLine($"  {c.Name,-10} {c.Summary}");
        }
    }
}
