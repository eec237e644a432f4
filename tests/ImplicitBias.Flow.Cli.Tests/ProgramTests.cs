namespace ImplicitBias.Flow.Cli.Tests;

public class ProgramTests
{
    [Fact]
    public void UnknownCommand_ReturnsUsageErrorNamingIt()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = Program.Run(["frobnicate"], output, error);
        Assert.Equal(2, code);
        Assert.Contains("unknown command 'frobnicate'", error.ToString());
    }

    [Fact]
    public void Help_ListsUsage()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        Assert.Equal(0, Program.Run(["--help"], output, error));
        Assert.Contains("Usage: ibflow", output.ToString());
    }
}
