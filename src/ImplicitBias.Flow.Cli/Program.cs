using ImplicitBias.Flow.Cli.Commands;
using ImplicitBias.Flow.Experiments.Configuration;

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

        // Every failure ends in one line on stderr and a non-zero exit code, never a stack trace: 2 for a mistake in
        // what the user typed or wrote, 1 for a file that could not be read or written (a full disk, no permission),
        // 70 (EX_SOFTWARE) for a fault of the program itself, which the hostile-input tests treat as a bug.
        try
        {
            return command.Run(args.Skip(1).ToArray(), output, error);
        }
        catch (UserError e)
        {
            error.WriteLine($"ibflow {command.Name}: {OneLine(e.Message)}");
            return 2;
        }
        catch (ExperimentException e)
        {
            error.WriteLine($"ibflow {command.Name}: {OneLine(e.Message)}");
            return 2;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"ibflow {command.Name}: could not read or write a file: {OneLine(e.Message)}");
            return 1;
        }
        catch (OutOfMemoryException)
        {
            error.WriteLine($"ibflow {command.Name}: ran out of memory; use fewer samples, a narrower or shallower model, or fewer steps.");
            return 1;
        }
        catch (Exception e)
        {
            // The first frame in this program's own code says where to look, without printing a stack trace.
            System.Reflection.MethodBase? site = new System.Diagnostics.StackTrace(e).GetFrames()
                .Select(f => f.GetMethod())
                .FirstOrDefault(m => m?.DeclaringType?.Namespace?.StartsWith("ImplicitBias", StringComparison.Ordinal) == true) ?? e.TargetSite;
            string where = site is null ? string.Empty : $" in {site.DeclaringType?.Name}.{site.Name}";
            error.WriteLine($"ibflow {command.Name}: internal error{where}: {e.GetType().Name}: {OneLine(e.Message)} (please report this with the command line).");
            return InternalError;
        }
    }

    /// <summary>Exit code of a fault of the program itself (EX_SOFTWARE), as opposed to a user's mistake.</summary>
    public const int InternalError = 70;

    /// <summary>A message on one line: line breaks and other control characters are shown escaped.</summary>
    internal static string OneLine(string message)
    {
        var line = new System.Text.StringBuilder(message.Length);
        foreach (char c in message.TrimEnd())
        {
            if (c == '\n')
            {
                line.Append(' ');
            }
            else if (!char.IsControl(c))
            {
                line.Append(c);
            }
        }

        return line.ToString();
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
