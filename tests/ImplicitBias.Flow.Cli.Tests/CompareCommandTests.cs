using System.Globalization;
using System.Text.Json;

namespace ImplicitBias.Flow.Cli.Tests;

/// <summary>
/// <c>ibflow compare</c> on a tiny experiment (16 Gaussian samples in d = 4, width 6, squared ReLU): the discrete
/// optimizer with β = e^{−c h} is a first-order scheme for its flow (docs/mathematics.md §4), so the error at T halves with h.
/// </summary>
public sealed class CompareCommandTests : IDisposable
{
    // T = 4.8 is a whole number of steps for every h below (12, 24, 48, 96).
    private const string Steps = "0.4,0.2,0.1,0.05";
    private const string Time = "4.8";
    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-compare-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Experiment(string optimizer, double eta0)
    {
        string path = Path.Combine(_dir, $"{optimizer}.json");
        File.WriteAllText(path, string.Create(CultureInfo.InvariantCulture, $$"""
        {
          "Name": "tiny-{{optimizer}}",
          "Data": { "Kind": "gaussian", "Samples": 16, "Dimension": 4, "Seed": 3 },
          "Model": { "Depth": 2, "Width": 6, "Activation": "relu-q", "Q": 2, "InitScale": 0.5, "Seed": 5 },
          "Optimizer": { "Name": "{{optimizer}}", "Eta0": {{eta0}}, "Power": 0.8 },
          "Solver": { "Backend": "cpu" }
        }
        """));
        return path;
    }

    private static (int Code, string Output, string Error) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = Program.Run(["compare", .. args], output, error);
        return (code, output.ToString(), error.ToString());
    }

    private (JsonDocument Json, string Directory) CompareJson(string optimizer, double eta0, params string[] extra)
    {
        string outDir = Path.Combine(_dir, $"out-{optimizer}-{Guid.NewGuid():N}");
        (int code, string output, string error) = Run([Experiment(optimizer, eta0), "--h", Steps, "--time", Time, "--out", outDir, "--json", .. extra]);
        Assert.True(code == 0, error);
        return (JsonDocument.Parse(output), outDir);
    }

    private static double[] Errors(JsonDocument json) =>
        json.RootElement.GetProperty("rows").EnumerateArray().Select(r => r.GetProperty("error").GetDouble()).ToArray();

    [Fact]
    public void Ngd_Json_FirstOrderErrorsAndFilesThatReadBack()
    {
        (JsonDocument json, string outDir) = CompareJson("ngd", 0.3);
        using (json)
        {
            JsonElement root = json.RootElement;

            // Measured: order 1.003; errors at T 2.13e-2, 1.06e-2, 5.3e-3, 2.65e-3, each half the one before.
            Assert.InRange(root.GetProperty("order").GetDouble(), 0.8, 1.2);
            double[] hs = root.GetProperty("rows").EnumerateArray().Select(r => r.GetProperty("h").GetDouble()).ToArray();
            Assert.Equal([0.4, 0.2, 0.1, 0.05], hs);
            double[] errors = Errors(json);
            for (int i = 1; i < errors.Length; i++)
            {
                Assert.InRange(errors[i] / errors[i - 1], 0.35, 0.65);
            }

            Assert.All(root.GetProperty("rows").EnumerateArray(), r => Assert.InRange(r.GetProperty("cosine").GetDouble(), 0.99, 1.0));
            Assert.False(root.TryGetProperty("newtonSchulz", out _));
            Assert.Equal(4.8, root.GetProperty("time").GetDouble());
        }

        foreach (string file in new[] { "comparison.csv", "compare.json", "distance.html", "cosine.html", "margins.html", "error-vs-h.html" })
        {
            Assert.True(File.Exists(Path.Combine(outDir, file)), file);
        }

        Assert.Contains("plotly", File.ReadAllText(Path.Combine(outDir, "error-vs-h.html")), StringComparison.OrdinalIgnoreCase);

        // The long CSV: one row per t_n of every h (13 + 25 + 49 + 97), numbers that parse back.
        string[] lines = File.ReadAllLines(Path.Combine(outDir, "comparison.csv"));
        Assert.Equal("h,n,t,relative_distance,cosine,log_loss_discrete,log_loss_flow,margin_discrete,margin_flow", lines[0]);
        double[][] rows = lines.Skip(1).Select(l => l.Split(',').Select(c => double.Parse(c, CultureInfo.InvariantCulture)).ToArray()).ToArray();
        Assert.Equal(13 + 25 + 49 + 97, rows.Length);
        Assert.All(rows, r => Assert.Equal(r[1] * r[0], r[2], 12));
        Assert.All(rows.Where(r => r[1] == 0), r => Assert.Equal(0, r[3]));
        double[] last = rows.Last();
        Assert.Equal(0.05, last[0]);
        Assert.Equal(4.8, last[2], 12);

        // The last row of the finest h is the table's error at T, and the flow's log L agrees across h at T.
        using JsonDocument written = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "compare.json")));
        Assert.Equal(written.RootElement.GetProperty("rows")[3].GetProperty("error").GetDouble(), last[3]);
        Assert.All(rows.Where(r => Math.Abs(r[2] - 4.8) < 1e-9), r => Assert.Equal(last[6], r[6], 12));
    }

    [Theory]
    [InlineData("nmomentum", 0.3)]
    [InlineData("adam", 0.05)]
    public void MomentumMethods_ErrorAtT_IsFirstOrderInH(string optimizer, double eta0)
    {
        // Measured: nmomentum order 1.06, adam 1.04 (the momentum start-up adds a little curvature at coarse h).
        (JsonDocument json, _) = CompareJson(optimizer, eta0);
        using (json)
        {
            Assert.InRange(json.RootElement.GetProperty("order").GetDouble(), 0.8, 1.2);
            double[] errors = Errors(json);
            Assert.True(errors.Zip(errors.Skip(1)).All(p => p.Second < p.First), string.Join(", ", errors));
        }
    }

    [Fact]
    public void Muon_NewtonSchulzAgainstExact_IsReportedAndBounded()
    {
        (JsonDocument exact, _) = CompareJson("muon", 0.1);
        (JsonDocument ns, _) = CompareJson("muon", 0.1, "--polar", "newton-schulz");
        using (exact)
        using (ns)
        {
            JsonElement e = exact.RootElement.GetProperty("newtonSchulz");
            JsonElement n = ns.RootElement.GetProperty("newtonSchulz");

            // The quintic NS maps singular values into about [0.68, 1.2], so one update differs from U Vᵀ by up to
            // about 0.32 relative; measured 0.23 here, with singular values in [0.70, 1.11].
            Assert.InRange(e.GetProperty("oneUpdate").GetDouble(), 0.02, 0.35);
            Assert.InRange(e.GetProperty("minSingularValue").GetDouble(), 0.6, 1.0);
            Assert.InRange(e.GetProperty("maxSingularValue").GetDouble(), 1.0, 1.25);

            // Over the run the difference accumulates but stays below the per-step one (measured 0.061).
            double trajectory = e.GetProperty("trajectory").GetDouble();
            Assert.InRange(trajectory, 1e-3, 0.35);
            Assert.Equal(0.05, e.GetProperty("h").GetDouble());

            // The exact discrete Muon converges to the (exact) flow; NS does not, its error is the NS bias.
            Assert.True(e.GetProperty("errorExact").GetDouble() < 0.2 * e.GetProperty("errorNewtonSchulz").GetDouble());
            Assert.InRange(exact.RootElement.GetProperty("order").GetDouble(), 0.8, 1.2);

            // With --polar newton-schulz the same two runs are made with the roles swapped: the same differences.
            Assert.Equal("newton-schulz", ns.RootElement.GetProperty("polar").GetString());
            Assert.Equal(trajectory, n.GetProperty("trajectory").GetDouble(), 12);
            Assert.Equal(e.GetProperty("oneUpdate").GetDouble(), n.GetProperty("oneUpdate").GetDouble(), 12);
            Assert.Equal(e.GetProperty("errorNewtonSchulz").GetDouble(), ns.RootElement.GetProperty("rows")[3].GetProperty("error").GetDouble(), 12);

            // The NS scheme's error at T tends to its bias, not to 0, so its fitted order is well below 1 (measured −0.10).
            Assert.True(ns.RootElement.GetProperty("order").GetDouble() < 0.5);
        }
    }

    [Fact]
    public void Table_ShowsEveryStepTheObservedOrdersAndTheFittedOrder()
    {
        // Two h give one observed order, not a range: one halving adds h = 0.1, and the three agree (order ≈ 1).
        (int code, string output, string error) = Run(Experiment("ngd", 0.3), "--h", "0.4,0.2", "--time", Time, "--out", Path.Combine(_dir, "table"));
        Assert.True(code == 0, error);
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("error at T", lines[1]);
        Assert.Contains("order", lines[1]);
        Assert.Contains("log L discrete", lines[1]);
        Assert.StartsWith("0.4", lines[2].Trim());
        Assert.Contains(" 12 ", lines[2]);
        Assert.Contains(" — ", lines[2]);
        Assert.StartsWith("0.2", lines[3].Trim());
        Assert.StartsWith("0.1 ", lines[4].Trim());
        Assert.EndsWith("*", lines[4].TrimEnd());
        Assert.StartsWith("order: observed", lines[5]);
        Assert.StartsWith("refined: h = 0.1 added", lines[6]);
        Assert.StartsWith("fitted order over h = 0.4 … 0.1", lines[7]);
        Assert.StartsWith("From h = 0.4 on, the discrete ngd follows its flow", lines[8]);
        Assert.True(File.Exists(Path.Combine(_dir, "table", "index.html")));
    }

    [Fact]
    public void AdamExperiment_DefaultSteps_RefinesUntilTheOrdersAgree()
    {
        // experiments/adam.json with the default h = 1 … 1/8: the errors at T (0.33, 0.19, 0.12, 0.12) give no steady
        // order, so h is halved three times; h = 1/16 … 1/64 (errors 7.4e-3, 3.3e-3, 1.6e-3) agree at order ≈ 1.1.
        string? root = AppContext.BaseDirectory;
        while (root is not null && !File.Exists(Path.Combine(root, "experiments", "adam.json")))
        {
            root = Path.GetDirectoryName(root);
        }

        Assert.NotNull(root);
        string outDir = Path.Combine(_dir, "adam");
        (int code, string output, string error) = Run(Path.Combine(root, "experiments", "adam.json"), "--out", outDir, "--json");
        Assert.True(code == 0, error);
        using JsonDocument json = JsonDocument.Parse(output);
        JsonElement r = json.RootElement;
        Assert.Equal([0.0625, 0.03125, 0.015625], r.GetProperty("refinedSteps").EnumerateArray().Select(e => e.GetDouble()));
        Assert.Equal(0.0625, r.GetProperty("asymptoticFrom").GetDouble());
        Assert.InRange(r.GetProperty("order").GetDouble(), 0.9, 1.25);
        Assert.StartsWith("From h = 0.0625 on, the discrete adam follows its flow", r.GetProperty("verdict").GetString());
        JsonElement[] rows = [.. r.GetProperty("rows").EnumerateArray()];
        Assert.Equal(7, rows.Length);
        Assert.Equal(JsonValueKind.Null, rows[0].GetProperty("observedOrder").ValueKind);
        Assert.Equal([false, false, false, false, true, true, true], rows.Select(e => e.GetProperty("asymptotic").GetBoolean()));

        // Without refining, the default steps give no order at all rather than a wrong one.
        (code, output, error) = Run(Path.Combine(root, "experiments", "adam.json"), "--out", Path.Combine(_dir, "adam-0"), "--refine", "0");
        Assert.True(code == 0, error);
        Assert.Contains("fitted order: none", output);
        Assert.Contains("No asymptotic range", output);
        Assert.Contains("0.067", output);
    }

    [Fact]
    public void Help_ListsTheOptions()
    {
        (int code, string output, _) = Run("--help");
        Assert.Equal(0, code);
        foreach (string option in new[] { "--h", "--time", "--refine", "--out", "--json", "--polar", "newton-schulz", "comparison.csv", "error-vs-h.html", "index.html", "±0.25" })
        {
            Assert.Contains(option, output);
        }
    }

    [Fact]
    public void UnknownPolar_IsUserErrorListingAllowedValues()
    {
        (int code, string output, string error) = Run(Experiment("muon", 0.1), "--polar", "svd", "--out", Path.Combine(_dir, "bad"));
        Assert.Equal(2, code);
        Assert.Empty(output);
        Assert.Contains("--polar 'svd'", error);
        Assert.Contains("exact, newton-schulz", error);
    }

    [Theory]
    [InlineData("0.4,abc", "'abc' is not one")]
    [InlineData("0.4,-0.1", "'-0.1' is not one")]
    [InlineData("", "positive step sizes")]
    [InlineData("0.4,0.35", "does not divide")]
    [InlineData("0.2,0.2", "once")]
    public void BadStepList_IsUserErrorNamingTheOption(string steps, string expected)
    {
        (int code, _, string error) = Run(Experiment("ngd", 0.3), "--h", steps, "--time", Time, "--out", Path.Combine(_dir, "bad"));
        Assert.Equal(2, code);
        Assert.Contains("--h", error);
        Assert.Contains(expected, error);
        Assert.Contains("1,0.5,0.25,0.125", error);
    }

    [Fact]
    public void ExperimentMistake_IsOneLineNamingTheKey()
    {
        (int code, _, string error) = Run(Experiment("ngd", 0.3), "--Optimizer:Name=sgd", "--out", Path.Combine(_dir, "bad"));
        Assert.Equal(2, code);
        Assert.Contains("Optimizer:Name", error);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
