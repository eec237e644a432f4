using ImplicitBias.Flow.Cli.Commands;

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

    [Fact]
    public void Version_PrintsTheVersionAndTheCommit()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        Assert.Equal(0, Program.Run(["--version"], output, error));

        // Built inside the repository's git checkout, so the commit is known (a full hexadecimal hash).
        Assert.Matches(@"^ibflow \d+\.\d+\.\d+\S* \(commit [0-9a-f]{40}\)\r?\n$", output.ToString());
        Assert.Empty(error.ToString());
    }

    [Fact]
    public void BuiltInQuickstart_IsTheRepositorysQuickstart()
    {
        // The installed tool runs this copy when no experiment is given outside a clone.
        using Stream stream = typeof(Program).Assembly.GetManifestResourceStream("quickstart.json")!;
        Assert.NotNull(stream);
        using var reader = new StreamReader(stream);
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "experiments", "quickstart.json")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        Assert.NotNull(dir);
        Assert.Equal(File.ReadAllText(Path.Combine(dir, "experiments", "quickstart.json")), reader.ReadToEnd());
    }

    /// <summary>
    /// The installed tool's default experiment is read from a temporary copy that does not outlive the load, and an
    /// error in it (here an override out of range) names it as the user knows it, not by that temporary path.
    /// </summary>
    [Fact]
    public void BuiltInQuickstart_LeavesNoTemporaryFolder_AndErrorsNameIt()
    {
        static int Copies() => Directory.GetDirectories(Path.GetTempPath(), "ibflow-quickstart-*").Length;
        int before = Copies();
        Assert.Equal("quickstart", ExperimentFiles.LoadBuiltInQuickstart([]).Name);
        UserError error = Assert.Throws<UserError>(() => ExperimentFiles.LoadBuiltInQuickstart(["--Solver:RelTol=2"]));
        Assert.StartsWith("the built-in quickstart: Solver:RelTol = '2' is not valid", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("ibflow-quickstart-", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, Copies());
    }

    [Theory]
    [InlineData("run")]
    [InlineData("compare")]
    [InlineData("verify")]
    [InlineData("diagnose")]
    [InlineData("work-precision")]
    public void ExperimentVerbs_ShareOneArgumentGrammar(string verb)
    {
        // Unknown options, a missing value and two experiment files are user errors (exit 2, one line naming
        // the verb's options) in every verb; -h and --help print the usage.
        (string[] Args, string Expected)[] cases =
        [
            ([verb, "x.json", "--frobnicate"], "unknown option '--frobnicate'"),
            ([verb, "x.json", "--Optimizer:Eta0"], "--Optimizer:Eta0 needs a value"),
            ([verb, "a.json", "b.json"], "expected one experiment file, got 2"),
        ];
        foreach ((string[] args, string expected) in cases)
        {
            using var output = new StringWriter();
            using var error = new StringWriter();
            Assert.Equal(2, Program.Run(args, output, error));
            string message = error.ToString();
            Assert.Contains($"ibflow {verb}:", message);
            Assert.Contains(expected, message);
            Assert.DoesNotContain("   at ", message);
        }

        foreach (string help in new[] { "--help", "-h" })
        {
            using var output = new StringWriter();
            using var error = new StringWriter();
            Assert.Equal(0, Program.Run([verb, help], output, error));
            Assert.Contains($"ibflow {verb}", output.ToString());
        }
    }
}
