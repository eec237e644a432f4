using System.Text.Json;

namespace ImplicitBias.Flow.Cli.Tests;

public class BenchCommandTests
{
    [Fact]
    public void Json_SmallExperiment_OneSaneRowPerBackend()
    {
        string dir = Directory.CreateTempSubdirectory("ibflow-bench").FullName;
        try
        {
            string path = Path.Combine(dir, "small.json");
            File.WriteAllText(path, """
                {
                  "Name": "bench-test",
                  "Data": { "Kind": "gaussian", "Samples": 300, "Dimension": 40, "Seed": 2 },
                  "Model": { "Depth": 3, "Width": 12, "Activation": "relu", "InitScale": 1 },
                  "Loss": "logistic",
                  "Optimizers": [ { "Name": "gd" } ]
                }
                """);
            using var output = new StringWriter();
            using var error = new StringWriter();
            int code = Program.Run(["bench", path, "--json", "--repeat", "2", "--peak-size", "160"], output, error);
            Assert.True(code == 0, error.ToString());
            using JsonDocument doc = JsonDocument.Parse(output.ToString());
            var rows = doc.RootElement.GetProperty("rows").EnumerateArray().ToList();
            Assert.Equal(["cpu", "ilgpu-cpu"], rows.Select(r => r.GetProperty("backend").GetString()).Take(2));
            foreach (JsonElement row in rows)
            {
                Assert.Equal(300, row.GetProperty("m").GetInt32());
                Assert.Equal(40, row.GetProperty("d").GetInt32());
                Assert.Equal(12, row.GetProperty("width").GetInt32());
                Assert.Equal(3, row.GetProperty("depth").GetInt32());
                double ms = row.GetProperty("msPerGradient").GetDouble(), gflops = row.GetProperty("gflops").GetDouble();
                double peak = row.GetProperty("peakGflops").GetDouble(), fraction = row.GetProperty("fractionOfPeak").GetDouble();
                Assert.True(ms > 0 && ms < 10_000, $"ms = {ms}");
                // Products of one gradient: 2m(d·12·2 + 12·12·3 + 12·3) flops.
                double flops = 2.0 * 300 * ((40 * 12 * 2) + (12 * 12 * 3) + (12 * 3));
                Assert.Equal(flops / (ms * 1e6), gflops, 1e-9 * gflops);
                Assert.True(peak > 0.1 && peak < 100_000, $"peak = {peak}");
                Assert.Equal(gflops / peak, fraction, 1e-12);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Table_DefaultPaperSize_OnCpu_NamesSizeAndPeak()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        Assert.Equal(0, Program.Run(["bench", "--backend", "cpu", "--repeat", "1", "--peak-size", "100"], output, error));
        string text = output.ToString();
        Assert.Contains("m = 2048, d = 784, widths [100], depth 2", text, StringComparison.Ordinal);
        Assert.Contains("DGEMM peak (n = 100", text, StringComparison.Ordinal);
        Assert.Contains("\ncpu ", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_WidthAndDepthLists_OneRowPerShape()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = Program.Run(["bench", "--backend", "cpu", "--width", "10,20", "--depth", "2,3", "--samples", "70", "--dimension", "30", "--json", "--repeat", "1", "--peak-size", "64"], output, error);
        Assert.True(code == 0, error.ToString());
        using JsonDocument doc = JsonDocument.Parse(output.ToString());
        var rows = doc.RootElement.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal([(10, 2), (20, 2), (10, 3), (20, 3)], rows.Select(r => (r.GetProperty("width").GetInt32(), r.GetProperty("depth").GetInt32())));
        Assert.All(rows, r => Assert.Equal((70, 30, "cpu"), (r.GetProperty("m").GetInt32(), r.GetProperty("d").GetInt32(), r.GetProperty("backend").GetString())));
    }

    [Fact]
    public void WidthOption_WithAnExperimentFile_IsAOneLineError()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        Assert.Equal(2, Program.Run(["bench", "experiments/quickstart.json", "--width", "10"], output, error));
        Assert.Contains("--width sets the built-in problem's size; with an experiment file use its keys", error.ToString(), StringComparison.Ordinal);
        Assert.Single(error.ToString().Trim().Split('\n'));
    }

    // Width 10: the fused pass's float32 products on AVX-512 machines; width 30: the two-pass path's float32 tiles.
    [Fact]
    public void Json_PrecisionList_OneRowPerPrecision()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        string[] args = ["bench", "--backend", "cpu", "--width", "10,30", "--depth", "3", "--samples", "70", "--dimension", "30", "--precision", "float64,float32", "--json", "--repeat", "1", "--peak-size", "64"];
        int code = Program.Run(args, output, error);
        Assert.True(code == 0, error.ToString());
        using JsonDocument doc = JsonDocument.Parse(output.ToString());
        var rows = doc.RootElement.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(["float64", "float32", "float64", "float32"], rows.Select(r => r.GetProperty("precision").GetString()));
        Assert.Equal([10, 10, 30, 30], rows.Select(r => r.GetProperty("width").GetInt32()));
        Assert.All(rows, r => Assert.True(r.GetProperty("msPerGradient").GetDouble() > 0));
    }

    [Theory]
    [InlineData("--precision", "float16", "--precision 'float16' is unknown; allowed: float64, float32")]
    [InlineData("--width", "10,x", "--width '10,x' must be positive integers")]
    [InlineData("--depth", "0", "--depth '0' must be depths from 1 to 8")]
    [InlineData("--backend", "gpu", "--backend 'gpu' is unknown")]
    [InlineData("--repeat", "0", "--repeat '0' must be a positive integer")]
    [InlineData("--Model:Width=5", null, "need an experiment file")]
    public void UserErrors_AreOneLine(string option, string? value, string message)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        string[] args = value is null ? ["bench", option] : ["bench", option, value];
        Assert.Equal(2, Program.Run(args, output, error));
        Assert.Contains(message, error.ToString(), StringComparison.Ordinal);
        Assert.Single(error.ToString().Trim().Split('\n'));
    }
}
