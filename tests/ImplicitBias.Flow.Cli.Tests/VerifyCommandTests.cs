using System.Text.Json;

namespace ImplicitBias.Flow.Cli.Tests;

public sealed class VerifyCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"ibflow-verify-{Guid.NewGuid():N}");

    public VerifyCommandTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Experiment(string optimizers)
    {
        string path = Path.Combine(_dir, "tiny.json");
        File.WriteAllText(path, $$"""
            {
              "Name": "tiny",
              "Data": { "Kind": "gaussian", "Samples": 16, "Dimension": 3, "Seed": 1 },
              "Model": { "Depth": 2, "Width": 4, "Activation": "relu-q", "Q": 2, "InitScale": 0.5, "Seed": 2 },
              "Optimizers": [ {{optimizers}} ],
              "Solver": { "Backend": "cpu" },
              "Stop": { "TargetLogLoss": -50 }
            }
            """);
        return path;
    }

    [Fact]
    public void Json_TinyExperiment_RowsHaveTheKeys()
    {
        string path = Experiment("""{ "Name": "ngd", "Eta0": 1.0, "Power": 0.8 }, { "Name": "signum", "Eta0": 0.1, "Power": 0.8 }""");
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = Program.Run(["verify", path, "--json"], output, error);
        Assert.True(code == 0, error.ToString());
        using JsonDocument doc = JsonDocument.Parse(output.ToString());
        JsonElement rows = doc.RootElement.GetProperty("rows");
        Assert.True(rows.GetArrayLength() >= 10);
        foreach (JsonElement row in rows.EnumerateArray())
        {
            Assert.False(string.IsNullOrEmpty(row.GetProperty("quantity").GetString()));
            Assert.False(string.IsNullOrEmpty(row.GetProperty("reference").GetString()));
            Assert.False(string.IsNullOrEmpty(row.GetProperty("predicted").GetString()));
            Assert.True(row.TryGetProperty("measured", out _));
            AssertVerdictFollowsFromTheNumbers(row);
        }

        // Theorem 3.1 holds exactly for the flow: NGD's soft margin never falls once L < ℓ(0).
        JsonElement soft = Row(rows, "ngd", "softMargin_own");
        Assert.Equal("holds", soft.GetProperty("verdict").GetString());
        Assert.True(soft.GetProperty("measured").GetDouble() <= 1e-9);

        // NGD's own prediction of Lemma C.10 and both optimizers' runs are reported.
        Assert.Contains(rows.EnumerateArray(), r => r.GetProperty("optimizer").GetString() == "ngd" && r.GetProperty("reference").GetString() == "Lemma C.10");
        Assert.Contains(rows.EnumerateArray(), r => r.GetProperty("optimizer").GetString() == "signum" && r.GetProperty("reference").GetString() == "Lemma C.19");
        Assert.Equal(2, doc.RootElement.GetProperty("runs").GetArrayLength());
    }

    [Fact]
    public void Table_WithOverride_PrintsVerdicts()
    {
        string path = Experiment("""{ "Name": "ngd", "Eta0": 1.0, "Power": 0.8 }""");
        using var output = new StringWriter();
        using var error = new StringWriter();
        Assert.Equal(0, Program.Run(["verify", path, "--Stop:TargetLogLoss=-20"], output, error));
        string text = output.ToString();
        Assert.Contains("Lemma C.10", text);
        Assert.Contains("log L = -20", text);

        // The verdict on the row it belongs to: Theorem 3.1's soft-margin row says "holds".
        string line = Assert.Single(text.Split('\n'), l => l.Contains("Theorem 3.1", StringComparison.Ordinal));
        Assert.Contains("softMargin_own", line);
        Assert.Contains(" holds ", line);
    }

    [Fact]
    public void TooShortRun_LemmaC10IsNotYetConverged()
    {
        // Stopped at log L = −2 NGD's ‖θ‖₂/∫η is still far from its limit 1 but approaching it (negative trend):
        // "not yet converged", neither "holds" (it is not there) nor "violated" (it is getting there).
        string path = Experiment("""{ "Name": "ngd", "Eta0": 1.0, "Power": 0.8 }""");
        using var output = new StringWriter();
        using var error = new StringWriter();
        Assert.True(Program.Run(["verify", path, "--json", "--Stop:TargetLogLoss=-2"], output, error) == 0, error.ToString());
        using JsonDocument doc = JsonDocument.Parse(output.ToString());
        JsonElement rows = doc.RootElement.GetProperty("rows");
        JsonElement ratio = Row(rows, "ngd", "normOverEtaIntegral_own");
        Assert.True(Math.Abs(ratio.GetProperty("measured").GetDouble() - 1) > ratio.GetProperty("tolerance").GetDouble());
        Assert.True(ratio.GetProperty("trend").GetDouble() < 0);
        Assert.Equal("not yet converged", ratio.GetProperty("verdict").GetString());
        foreach (JsonElement row in rows.EnumerateArray())
        {
            AssertVerdictFollowsFromTheNumbers(row);
        }
    }

    private static JsonElement Row(JsonElement rows, string optimizer, string quantity) =>
        Assert.Single(rows.EnumerateArray(), r => r.GetProperty("optimizer").GetString() == optimizer && r.GetProperty("quantity").GetString()!.StartsWith(quantity, StringComparison.Ordinal));

    /// <summary>
    /// The rules of a limit row "→ c" (README of Verification): holds when |measured − c| ≤ tolerance, else not yet
    /// converged when the trend is negative, else violated; recomputed here from the row's own numbers.
    /// </summary>
    private static void AssertVerdictFollowsFromTheNumbers(JsonElement row)
    {
        string verdict = row.GetProperty("verdict").GetString()!;
        Assert.Contains(verdict, new[] { "holds", "not yet converged", "violated" });
        string predicted = row.GetProperty("predicted").GetString()!;
        if (!predicted.StartsWith("→ ", StringComparison.Ordinal) || row.GetProperty("measured").ValueKind != JsonValueKind.Number)
        {
            return;
        }

        double limit = double.Parse(predicted[2..], System.Globalization.CultureInfo.InvariantCulture);
        double measured = row.GetProperty("measured").GetDouble(), tolerance = row.GetProperty("tolerance").GetDouble();
        JsonElement trend = row.GetProperty("trend");
        string expected = Math.Abs(measured - limit) <= tolerance ? "holds"
            : trend.ValueKind == JsonValueKind.Number && trend.GetDouble() < 0 ? "not yet converged"
            : "violated";
        Assert.True(expected == verdict, $"{row.GetProperty("quantity").GetString()}: measured {measured}, verdict {verdict}, expected {expected}");
    }

    [Fact]
    public void OnIlgpuCpu_TheDeviceResidentSolve_GivesTheCpuRows()
    {
        // Solver:Backend = ilgpu-cpu solves with the state in device memory (DeviceFlowSolver); the observers see
        // host copies at the saves. The verdict table must be the CPU one to the solver's tolerance.
        string path = Experiment("""{ "Name": "nmomentum", "Eta0": 0.5, "Power": 0.8 }""");
        JsonElement[] Rows(string backend)
        {
            using var output = new StringWriter();
            using var error = new StringWriter();
            int code = Program.Run(["verify", path, "--json", "--Stop:MaxTime=1", $"--Solver:Backend={backend}", "--Solver:RelTol=1e-8", "--Solver:AbsTol=1e-11"], output, error);
            Assert.True(code == 0, error.ToString());
            return JsonDocument.Parse(output.ToString()).RootElement.GetProperty("rows").EnumerateArray().ToArray();
        }

        JsonElement[] cpu = Rows("cpu"), device = Rows("ilgpu-cpu");
        Assert.Equal(cpu.Length, device.Length);
        int compared = 0;
        for (int i = 0; i < cpu.Length; i++)
        {
            Assert.Equal(cpu[i].GetProperty("quantity").GetString(), device[i].GetProperty("quantity").GetString());
            Assert.Equal(cpu[i].GetProperty("verdict").GetString(), device[i].GetProperty("verdict").GetString());
            if (cpu[i].GetProperty("measured").ValueKind == JsonValueKind.Number)
            {
                double a = cpu[i].GetProperty("measured").GetDouble(), b = device[i].GetProperty("measured").GetDouble();
                Assert.True(Math.Abs(a - b) <= 1e-5 * Math.Max(1, Math.Abs(a)), $"{cpu[i].GetProperty("quantity").GetString()}: cpu {a}, ilgpu-cpu {b}");
                compared++;
            }
        }

        Assert.True(compared >= 5);
    }

    [Fact]
    public void MissingFile_IsUserError()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        Assert.Equal(2, Program.Run(["verify", Path.Combine(_dir, "none.json")], output, error));
        Assert.Contains("ibflow verify:", error.ToString());
    }
}
