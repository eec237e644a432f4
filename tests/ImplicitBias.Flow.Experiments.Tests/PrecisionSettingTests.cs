using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.Outputs;
using ImplicitBias.Flow.Experiments.Running;
using ImplicitBias.Flow.Kernels;
using ImplicitBias.Flow.Models.Evaluation;

namespace ImplicitBias.Flow.Experiments.Tests;

/// <summary>Solver:Precision: read and checked, written to config.json, and applied by the cpu backend or refused in one line.</summary>
public sealed class PrecisionSettingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-precision-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(int width, string solver)
    {
        string path = Path.Combine(_dir, "exp.json");
        File.WriteAllText(path, $$"""
        {
          "Data": { "Kind": "gaussian", "Samples": 120, "Dimension": 24, "Seed": 2 },
          "Model": { "Depth": 2, "Width": {{width}}, "Activation": "relu" },
          "Optimizer": { "Name": "ngd" },
          "Solver": {{solver}}
        }
        """);
        return path;
    }

    [Fact]
    public void Default_IsFloat64_AndConfigJsonHoldsTheChoice()
    {
        ExperimentSettings s = ExperimentLoader.Load(Write(10, "{}"), [], useEnvironment: false);
        Assert.Equal("float64", s.Solver.Precision);
        ExperimentSettings f = ExperimentLoader.Load(Write(10, """{ "Backend": "cpu", "Precision": "float32" }"""), [], useEnvironment: false);
        Assert.Equal("float32", f.Solver.Precision);
        Assert.Equal("float32", ResolvedConfig.ToJson(f, f.Optimizers[0], f.Seeds[0])["Solver"]!["Precision"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("""{ "Precision": "float16" }""", "float64, float32")]
    [InlineData("""{ "Backend": "cuda", "Precision": "float32" }""", "float32 is available on the cpu backend")]
    public void UnusableValue_IsAOneLineErrorNamingTheKey(string solver, string allowed)
    {
        string path = Write(10, solver);
        ExperimentException e = Assert.Throws<ExperimentException>(() => ExperimentLoader.Load(path, [], useEnvironment: false));
        Assert.Equal("Solver:Precision", e.Key);
        Assert.Contains(allowed, e.Message, StringComparison.Ordinal);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    // Width 10: the fused pass on AVX-512 machines; width 30: the two-pass path's float32 tiles (every model is covered).
    [Theory]
    [InlineData(10)]
    [InlineData(30)]
    public void Float32_GivesTheFloat64GradientToFloat32Rounding(int width)
    {
        ExperimentSettings s64 = ExperimentLoader.Load(Write(width, """{ "Backend": "cpu" }"""), [], useEnvironment: false);
        ExperimentSettings s32 = s64 with { Solver = s64.Solver with { Precision = "float32" } };
        var data = ExperimentBuilder.Data(s64);
        var network = ExperimentBuilder.Network(s64.Model, data.Dimension);
        var loss = ExperimentBuilder.Loss(s64);
        double[] theta = ExperimentBuilder.InitialTheta(s64, network, 1);
        using GradientBackend b64 = ExperimentBuilder.Backend(s64, network, data, loss);
        using GradientBackend b32 = ExperimentBuilder.Backend(s32, network, data, loss);
        var g64 = new double[theta.Length];
        var g32 = new double[theta.Length];
        b64.Oracle.Evaluate(theta, g64);
        b32.Oracle.Evaluate(theta, g32);
        double error = Math.Sqrt(g64.Zip(g32, (a, b) => (a - b) * (a - b)).Sum()) / Math.Sqrt(g64.Sum(v => v * v));
        Assert.InRange(error, 1e-12, 1e-5);
    }
}
