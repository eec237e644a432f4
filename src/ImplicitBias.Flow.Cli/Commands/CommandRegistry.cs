namespace ImplicitBias.Flow.Cli.Commands;

/// <summary>All verbs of <c>ibflow</c>, in the order <c>--help</c> lists them.</summary>
internal static class CommandRegistry
{
    /// <summary>Creates the verbs. Add one line here per verb.</summary>
    public static IReadOnlyList<ICommand> Create() =>
    [
        new RunCommand(),
        new SweepCommand(),
        new ReportCommand(),
        new PlotCommand(),
        new SolversCommand(),
        new DataCommand(),
        new VerifyCommand(),
        new CompareCommand(),
        new FuzzCommand(),
        new BenchCommand(),
        new DiagnoseCommand(),
        new WorkPrecisionCommand(),
    ];
}
