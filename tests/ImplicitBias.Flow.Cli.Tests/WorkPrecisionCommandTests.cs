using System.Text.Json;

namespace ImplicitBias.Flow.Cli.Tests;

/// <summary>
/// <c>ibflow work-precision</c> on a tiny Adam experiment (16 Gaussian samples in d = 4, width 6, squared ReLU, to
/// L = 1e-3): the two reference solves agree far below the errors measured, and DOPRI5's errors fall as its tolerance
/// tightens.
/// </summary>
public sealed class WorkPrecisionCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-wp-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A tiny experiment with one optimizer (Adam by default) on 16 Gaussian samples.</summary>
    private string Experiment(string optimizer = "adam", string eta0 = "0.05")
    {
        string path = Path.Combine(_dir, $"{optimizer}.json");
        File.WriteAllText(path, $$"""
        {
          "Name": "tiny-{{optimizer}}",
          "Data": { "Kind": "gaussian", "Samples": 16, "Dimension": 4, "Seed": 3 },
          "Model": { "Depth": 2, "Width": 6, "Activation": "relu-q", "Q": 2, "InitScale": 0.5, "Seed": 5 },
          "Optimizer": { "Name": "{{optimizer}}", "Eta0": {{eta0}}, "Power": 0.8 },
          "Solver": { "Backend": "cpu" },
          "Stop": { "TargetLoss": 1e-3 }
        }
        """);
        return path;
    }

    private static (int Code, string Output, string Error) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = Program.Run(["work-precision", .. args], output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void Json_ReferenceAgreesAndErrorsFallWithTheTolerance()
    {
        string outDir = Path.Combine(_dir, "out");
        (int code, string output, string error) = Run(Experiment(), "--methods", "dopri5,etdrk4", "--rtols", "1e-3,1e-7", "--out", outDir, "--json");
        Assert.True(code == 0, error);
        using JsonDocument json = JsonDocument.Parse(output);
        JsonElement root = json.RootElement;
        Assert.True(root.GetProperty("reference").GetProperty("targetReached").GetBoolean());
        Assert.Equal(0, root.GetProperty("reference").GetProperty("offFlowWindows").GetInt64());
        double agreement = root.GetProperty("referenceAgreement").GetProperty("max").GetDouble();
        Assert.True(agreement < 1e-5, $"the references differ by {agreement}");

        JsonElement[] rows = root.GetProperty("rows").EnumerateArray().ToArray();
        Assert.Equal(["dopri5", "dopri5", "etdrk4", "etdrk4"], rows.Select(r => r.GetProperty("solve").GetProperty("method").GetString()));
        Assert.Equal([1e-3, 1e-7, 1e-3, 1e-7], rows.Select(r => r.GetProperty("solve").GetProperty("rtol").GetDouble()));
        foreach (JsonElement r in rows)
        {
            JsonElement solve = r.GetProperty("solve");
            Assert.True(solve.GetProperty("evaluations").GetInt64() >= solve.GetProperty("acceptedSteps").GetInt64());
            Assert.Equal(0, solve.GetProperty("offFlowWindows").GetInt64());
            if (solve.GetProperty("rtol").GetDouble() == 1e-3)
            {
                // Measured: the loose solves err by 1e-3 (dopri5) and 5e-3 (etdrk4), the references agree to 2e-6.
                Assert.True(r.GetProperty("errors").GetProperty("max").GetDouble() > 10 * agreement);
            }
        }

        double loose = rows[0].GetProperty("errors").GetProperty("max").GetDouble();
        double tight = rows[1].GetProperty("errors").GetProperty("max").GetDouble();
        Assert.True(tight < loose / 10, $"dopri5: error {loose} at rtol 1e-3, {tight} at 1e-7");
        Assert.True(rows[1].GetProperty("solve").GetProperty("evaluations").GetInt64() > rows[0].GetProperty("solve").GetProperty("evaluations").GetInt64());

        Assert.True(File.Exists(Path.Combine(outDir, "work-precision.json")));
        Assert.Contains("etdrk4", File.ReadAllText(Path.Combine(outDir, "work-precision.html")), StringComparison.Ordinal);
    }

    /// <summary>The table's columns stay aligned when a method's name is long ("auto (dopri5+ros34pw2)").</summary>
    [Fact]
    public void Table_ColumnsStayAligned_WithALongMethodName()
    {
        string path = Experiment("ngd", "0.5");
        (int code, string output, string error) = Run(path, "--methods", "auto", "--rtols", "1e-4", "--out", Path.Combine(_dir, "table"));
        Assert.True(code == 0, error);
        string[] lines = output.Split('\n');
        string header = lines.Single(l => l.StartsWith("method ", StringComparison.Ordinal));
        string row = lines.Single(l => l.StartsWith("auto (dopri5+ros34pw2) ", StringComparison.Ordinal));
        Assert.Equal(header.IndexOf(" rtol", StringComparison.Ordinal) + 5, row.IndexOf("1e-4", StringComparison.Ordinal) + 4);
        Assert.Equal(header.TrimEnd('\r').Length, row.TrimEnd('\r').Length); // every other column is right-aligned to a fixed width
    }

    [Fact]
    public void Json_Float32Rows_AgainstTheFloat64Reference()
    {
        string outDir = Path.Combine(_dir, "out32");
        (int code, string output, string error) = Run(Experiment(), "--methods", "dopri5", "--rtols", "1e-3", "--precisions", "float64,float32", "--out", outDir, "--json");
        Assert.True(code == 0, error);
        using JsonDocument json = JsonDocument.Parse(output);
        JsonElement[] rows = json.RootElement.GetProperty("rows").EnumerateArray().ToArray();
        Assert.Equal(["dopri5", "dopri5 (float32)"], rows.Select(r => r.GetProperty("solve").GetProperty("method").GetString()));
        double e64 = rows[0].GetProperty("errors").GetProperty("max").GetDouble(), e32 = rows[1].GetProperty("errors").GetProperty("max").GetDouble();
        // At rtol 1e-3 the tolerance, not float32 rounding (≈ 1e-6 in the gradient), sets the error.
        Assert.InRange(e32, e64 / 2, e64 * 2);
    }

    [Theory]
    [InlineData("--precisions", "float16", "unknown precision 'float16'; allowed: float64, float32")]
    [InlineData("--methods", "dopri5,rk99", "unknown method 'rk99'")]
    [InlineData("--methods", "rk4", "method 'rk4' has a fixed step")]
    [InlineData("--rtols", "1e-4,2", "relative tolerance 2 is out of range")]
    [InlineData("--rtols", "fast", "--rtols 'fast'")]
    public void BadOptions_OneLineError(string option, string value, string expected)
    {
        (int code, string output, string error) = Run(Experiment(), option, value);
        Assert.Equal(2, code);
        Assert.Equal(string.Empty, output);
        Assert.StartsWith($"ibflow work-precision: {expected}", error, StringComparison.Ordinal);
        Assert.Single(error.TrimEnd().Split('\n'));
    }
}
