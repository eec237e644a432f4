namespace ImplicitBias.Flow.Cli.Tests;

public sealed class RunCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-cli-run-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = Program.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void MissingExperimentFile_IsOneLineUserError()
    {
        (int code, _, string err) = Run("run", Path.Combine(_dir, "nope.json"));
        Assert.Equal(2, code);
        Assert.Contains("nope.json: file not found", err);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public void BadOverride_NamesTheKey_NoStackTrace()
    {
        string exp = Path.Combine(_dir, "e.json");
        File.WriteAllText(exp, """{ "Optimizer": { "Name": "ngd" } }""");
        (int code, _, string err) = Run("run", exp, "--Optimizer:Name=adamw", "--out", Path.Combine(_dir, "o"));
        Assert.Equal(2, code);
        Assert.Contains("Optimizer:Name = 'adamw'", err);
        Assert.DoesNotContain("   at ", err);
        Assert.False(Directory.Exists(Path.Combine(_dir, "o")));
    }

    [Fact]
    public void Run_ThenPlot_WritesAndRedrawsOutputs()
    {
        string exp = Path.Combine(_dir, "e.json");
        File.WriteAllText(exp, """
        { "Data": { "Kind": "gaussian", "Samples": 16, "Dimension": 4, "Seed": 3 },
          "Model": { "Width": 10, "InitScale": 0.5, "Seed": 2 },
          "Optimizer": { "Name": "ngd", "Eta0": 1.0 }, "Stop": { "TargetLogLoss": -10 }, "Outputs": { "Plots": false } }
        """);
        string outDir = Path.Combine(_dir, "run");
        (int code, string stdout, _) = Run("run", exp, "--out", outDir);
        Assert.Equal(0, code);
        Assert.Contains("target-reached", stdout);
        Assert.True(File.Exists(Path.Combine(outDir, "summary.json")));
        Assert.False(Directory.Exists(Path.Combine(outDir, "plots")));

        (int plotCode, string plotOut, _) = Run("plot", outDir);
        Assert.Equal(0, plotCode);
        Assert.Contains("1 run(s)", plotOut);
        Assert.True(File.Exists(Path.Combine(outDir, "plots", "margins-l2.html")));

        // The index shows the run's line of summary.json and loads the plotly.js written beside it.
        string index = File.ReadAllText(Path.Combine(outDir, "plots", "index.html"));
        Assert.Contains("<tr><td>ngd (seed ", index);
        Assert.Contains("<td>target-reached</td>", index);
        Assert.Contains("<script src=\"plotly.min.js\"", index);
        Assert.True(File.Exists(Path.Combine(outDir, "plots", "plotly.min.js")));
    }

    [Fact]
    public void Plot_OfAFolderWithoutRuns_SaysWhatIsMissing()
    {
        (int code, _, string err) = Run("plot", _dir);
        Assert.Equal(2, code);
        Assert.Contains("holds no trajectory.csv", err);
    }
}
