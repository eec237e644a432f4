using ImplicitBias.Flow.Cli.Fuzzing;

namespace ImplicitBias.Flow.Cli.Tests;

/// <summary>
/// The generated-input suite: 500 seeded hostile inputs, each ending in a one-line error or a sensible run whose
/// config.json holds the values given; never a stack trace, never a hang (ibflow fuzz runs more).
/// </summary>
public sealed class HostileInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-hostile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = Program.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void FiveHundredSeededCases_EndInAOneLineErrorOrASensibleRun()
    {
        IReadOnlyList<FuzzOutcome> outcomes = HostileInputs.RunMany(seed: 15, count: 500, _dir, TimeSpan.FromSeconds(60));
        string[] failures = outcomes.Where(o => !o.Acceptable).Select(o => $"case {o.Case.Index} [{o.Verdict}] {o.Case.Description}: {o.Detail}").ToArray();
        Assert.True(failures.Length == 0, string.Join("\n", failures));

        // The generator must exercise both endings, or it tests nothing.
        Assert.InRange(outcomes.Count(o => o.Verdict == "run"), 50, 400);
        Assert.InRange(outcomes.Count(o => o.Verdict == "error"), 100, 450);
    }

    [Fact]
    public void Judge_CatchesACrashAndABadValueAccepted()
    {
        // The judge itself must be able to fail: an unknown verb's message is fine, but a run whose config.json
        // disagrees with what was "given" must be flagged.
        string exp = Path.Combine(_dir, "e.json");
        File.WriteAllText(exp, """{ "Optimizer": { "Name": "ngd" }, "Data": { "Samples": 4, "Dimension": 2 }, "Model": { "Width": 2 }, "Stop": { "MaxSteps": 5 }, "Outputs": { "Plots": false } }""");
        string outDir = Path.Combine(_dir, "o");
        var lie = new FuzzCase(0, "lie", ["run", exp, "--out", outDir, "--Optimizer:Eta0=0.5"], new Dictionary<string, string>(), new Dictionary<string, string> { ["Optimizer:Eta0"] = "0.25" }, outDir);
        FuzzOutcome judged = HostileInputs.Run(lie, TimeSpan.FromSeconds(60));
        Assert.Equal("accepted-bad", judged.Verdict);
        Assert.Contains("0.5", judged.Detail);
    }

    [Theory]
    [InlineData("--Loss=logistic", "\"Loss\": \"logistic\"")]
    [InlineData("--Loss logistic", "\"Loss\": \"logistic\"")]
    [InlineData("--Name=renamed", "\"Name\": \"renamed\"")]
    public void TopLevelKeys_AreOverridableOnTheCommandLine(string option, string recorded)
    {
        string exp = Path.Combine(_dir, "e.json");
        File.WriteAllText(exp, """{ "Optimizer": { "Name": "ngd" }, "Data": { "Samples": 4, "Dimension": 2 }, "Model": { "Width": 2 }, "Stop": { "MaxSteps": 5 }, "Outputs": { "Plots": false } }""");
        string outDir = Path.Combine(_dir, "o");
        (int code, _, string err) = Run(["run", exp, "--out", outDir, .. option.Split(' ')]);
        Assert.True(code == 0, err);
        Assert.Contains(recorded, File.ReadAllText(Path.Combine(outDir, "config.json")));
    }

    [Theory]
    [InlineData("1e-3")]
    [InlineData("1e-6")]
    public void TinyMaxTime_RunsToMaxTime(string maxTime)
    {
        string exp = Path.Combine(_dir, "e.json");
        File.WriteAllText(exp, """{ "Optimizer": { "Name": "ngd" }, "Data": { "Samples": 4, "Dimension": 2 }, "Model": { "Width": 2 }, "Outputs": { "Plots": false } }""");
        string outDir = Path.Combine(_dir, "o");
        (int code, _, string err) = Run("run", exp, "--out", outDir, $"--Stop:MaxTime={maxTime}");
        Assert.True(code == 0, err);
        string summary = File.ReadAllText(Path.Combine(outDir, "summary.json"));
        Assert.Contains("\"status\": \"max-time\"", summary);
        Assert.Equal(3, File.ReadAllLines(Path.Combine(outDir, "trajectory.csv")).Length); // header, t = 0, t = MaxTime
    }

    [Fact]
    public void MaxTimeNearTheLargestDouble_RunsToItsStepLimit()
    {
        string exp = Path.Combine(_dir, "e.json");
        File.WriteAllText(exp, """{ "Optimizer": { "Name": "ngd" }, "Data": { "Samples": 4, "Dimension": 2 }, "Model": { "Width": 2 }, "Stop": { "MaxSteps": 5, "TargetLogLoss": -1000 }, "Outputs": { "Plots": false } }""");
        string outDir = Path.Combine(_dir, "o");
        (int code, _, string err) = Run("run", exp, "--out", outDir, "--Stop:MaxTime=1e308");
        Assert.True(code == 0, err);
        Assert.Contains("\"status\": \"max-steps\"", File.ReadAllText(Path.Combine(outDir, "summary.json")));
    }

    [Fact]
    public void Seeds_OnTheCommandLine_RunEachSeed()
    {
        string exp = Path.Combine(_dir, "e.json");
        File.WriteAllText(exp, """{ "Optimizer": { "Name": "ngd" }, "Data": { "Samples": 4, "Dimension": 2 }, "Model": { "Width": 2 }, "Stop": { "MaxSteps": 5 }, "Outputs": { "Plots": false } }""");
        string outDir = Path.Combine(_dir, "o");
        (int code, _, string err) = Run("run", exp, "--out", outDir, "--Seeds=3,4");
        Assert.True(code == 0, err);
        Assert.True(File.Exists(Path.Combine(outDir, "seed3", "summary.json")));
        Assert.True(File.Exists(Path.Combine(outDir, "seed4", "summary.json")));
    }

    [Theory]
    [InlineData("", "t,logLoss")]
    [InlineData("a,b\n1,2\n", "no columns t and logLoss")]
    [InlineData("t,logLoss\n", "no rows")]
    public void Plot_OfAnEmptyOrColumnlessTrajectory_IsAnError(string content, string words)
    {
        string run = Path.Combine(_dir, "r");
        Directory.CreateDirectory(run);
        File.WriteAllText(Path.Combine(run, "trajectory.csv"), content);
        (int code, _, string err) = Run("plot", run);
        Assert.NotEqual(0, code);
        Assert.Single(err.Trim().Split('\n'));
        Assert.Contains(content.Length == 0 ? "empty" : words, err);
    }

    [Fact]
    public void Compare_WithATinyStep_IsRefusedBeforeAllocating()
    {
        string exp = Path.Combine(_dir, "e.json");
        File.WriteAllText(exp, """{ "Optimizer": { "Name": "ngd" }, "Data": { "Samples": 4, "Dimension": 2 }, "Model": { "Width": 2 } }""");
        (int code, _, string err) = Run("compare", exp, "--h", "1e-9", "--time", "1", "--out", Path.Combine(_dir, "c"));
        Assert.Equal(2, code);
        Assert.Contains("1E+09 discrete steps", err);
        Assert.False(Directory.Exists(Path.Combine(_dir, "c")));
    }

    [Fact]
    public void UnwritableOutputFolder_IsOneLine_AndLeavesNoTemporaryFiles()
    {
        string exp = Path.Combine(_dir, "e.json");
        File.WriteAllText(exp, """{ "Optimizer": { "Name": "ngd" }, "Data": { "Samples": 4, "Dimension": 2 }, "Model": { "Width": 2 }, "Stop": { "MaxSteps": 5 }, "Outputs": { "Plots": false } }""");

        // A folder below a file cannot be created: the same IOException path as a full disk or a read-only folder.
        (int code, string stdout, string err) = Run("run", exp, "--out", Path.Combine(exp, "sub"));
        Assert.Equal(1, code);
        Assert.Single(err.Trim().Split('\n'));
        Assert.Contains("could not read or write a file", err);
        Assert.DoesNotContain("   at ", stdout + err);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp", SearchOption.AllDirectories));
    }
}
