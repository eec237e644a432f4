using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Models.Losses;

namespace ImplicitBias.Flow.Experiments.Tests;

public sealed class ExperimentLoaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string json)
    {
        string path = Path.Combine(_dir, "exp.json");
        File.WriteAllText(path, json);
        return path;
    }

    private static ExperimentException Fails(string path, params string[] overrides) =>
        Assert.Throws<ExperimentException>(() => ExperimentLoader.Load(path, overrides, useEnvironment: false));

    [Fact]
    public void FullFile_BindsEveryKey()
    {
        string path = Write("""
        {
          "Name": "demo",
          "Data": { "Kind": "xor", "Samples": 32, "Dimension": 5, "Seed": 7 },
          "Model": { "Depth": 3, "Width": 8, "Activation": "relu-q", "Q": 2.5, "InitScale": 0.1, "Seed": 3 },
          "Loss": "logistic",
          "Optimizer": { "Name": "adam", "Eta0": 0.002, "Power": 0.8, "Beta1": 0.8, "Beta2": 0.99, "Epsilon": 1e-8 },
          "Solver": { "Method": "dopri5", "RelTol": 1e-7, "AbsTol": 1e-10, "Backend": "cpu" },
          "Stop": { "TargetLogLoss": -50, "MaxTime": 1e6, "MaxSteps": 1000 },
          "Save": { "PointsPerDecade": 10, "Snapshots": [1, 10] },
          "Seeds": [1, 2, 3]
        }
        """);
        ExperimentSettings s = ExperimentLoader.Load(path, [], useEnvironment: false);
        Assert.Equal("demo", s.Name);
        Assert.Equal(new DataSettings("xor", 32, 5, 7, Path.Combine("data", "mnist")), s.Data);
        Assert.Equal(3, s.Model.Depth);
        Assert.Equal(2.5, s.Model.Q);
        Assert.Equal(LossKind.Logistic, s.Loss);
        OptimizerSettings o = Assert.Single(s.Optimizers);
        Assert.Equal("adam", o.Name);
        Assert.Equal(-Math.Log(0.8), o.C1, 15);
        Assert.Equal(-Math.Log(0.99), o.C2, 15);
        Assert.Equal(1e-8, o.Epsilon);
        Assert.Equal("dopri5", s.Solver.Method);
        Assert.Equal(-50, s.Stop.TargetLogLoss);
        Assert.Equal([1.0, 10.0], s.Save.Snapshots);
        Assert.Equal([1UL, 2UL, 3UL], s.Seeds);

        // Depth 3 with q = 2.5 has L = 1 + 2.5 + 6.25 = 9.75, so LR-MSD needs a > 1 − 1/L ≈ 0.897: a = 0.8 warns.
        Assert.Contains("L = 9.75", Assert.Single(s.Warnings));
    }

    [Fact]
    public void RateGivenAsC_DerivesBeta()
    {
        ExperimentSettings s = ExperimentLoader.Load(Write("""{ "Optimizer": { "Name": "signum", "C1": 0.5 } }"""), [], false);
        Assert.Equal(Math.Exp(-0.5), s.Optimizers[0].Beta1, 15);
    }

    [Fact]
    public void UnknownKey_IsNamedWithTheKnownKeysOfItsSection()
    {
        ExperimentException e = Fails(Write("""{ "Optimizer": { "Name": "adam", "Eta": 0.1 } }"""));
        Assert.Equal("Optimizer:Eta", e.Key);
        Assert.Contains("exp.json", e.Message);
        Assert.Contains("Eta0", e.Message);
    }

    [Fact]
    public void WrongType_NamesKeyAndValue()
    {
        ExperimentException e = Fails(Write("""{ "Data": { "Samples": "many" } }"""));
        Assert.Equal("Data:Samples", e.Key);
        Assert.Contains("'many'", e.Message);
        Assert.Contains("whole number", e.Message);
    }

    [Fact]
    public void OutOfRange_NamesTheRange()
    {
        ExperimentException e = Fails(Write("""{ "Optimizer": { "Name": "adam", "Beta1": 1.5 } }"""));
        Assert.Equal("Optimizer:Beta1", e.Key);
        Assert.Contains("(0, 1]", e.Message);
    }

    [Fact]
    public void UnknownOptimizer_ListsTheAllowedNames()
    {
        ExperimentException e = Fails(Write("""{ "Optimizer": { "Name": "adamw" } }"""));
        Assert.Equal("Optimizer:Name", e.Key);
        Assert.Contains("muon-adam", e.Message);
        Assert.Contains("signum", e.Message);
    }

    [Fact]
    public void MatrixOptimizer_OnLinearModel_IsRejected()
    {
        ExperimentException e = Fails(Write("""{ "Model": { "Depth": 1 }, "Optimizer": { "Name": "muon" } }"""));
        Assert.Equal("Optimizer:Name", e.Key);
        Assert.Contains("Model:Depth", e.Message);
    }

    [Fact]
    public void ScheduleBreakingTheAssumption_IsAWarningNamingTheKey()
    {
        ExperimentSettings s = ExperimentLoader.Load(Write("""{ "Optimizer": { "Name": "adam", "Power": 0.5 } }"""), [], false);
        string w = Assert.Single(s.Warnings);
        Assert.Contains("LR-MSD", w);
        Assert.Contains("Optimizer:Power", w);
    }

    [Fact]
    public void InvalidJson_NamesTheFile()
    {
        ExperimentException e = Fails(Write("""{ "Optimizer": { "Name": "adam", } "x" }"""));
        Assert.Contains("exp.json", e.Message);
        Assert.Contains("could not be read", e.Message);
    }

    [Fact]
    public void MissingFile_SaysSo()
    {
        ExperimentException e = Fails(Path.Combine(_dir, "nope.json"));
        Assert.Contains("file not found", e.Message);
    }

    [Fact]
    public void CommandLineOverride_Wins_AndUnknownOverrideIsRejected()
    {
        string path = Write("""{ "Optimizer": { "Name": "adam", "Eta0": 0.1 } }""");
        Assert.Equal(0.25, ExperimentLoader.Load(path, ["--Optimizer:Eta0=0.25"], false).Optimizers[0].Eta0);
        ExperimentException e = Fails(path, "--Optimizer:Eta=0.25");
        Assert.Equal("command line", e.File);
        Assert.Equal("Optimizer:Eta", e.Key);
    }

    [Fact]
    public void EnvironmentVariable_Overrides()
    {
        string path = Write("""{ "Optimizer": { "Name": "adam" } }""");
        using (ExperimentLoader.UseEnvironment(new Dictionary<string, string> { ["IBFLOW_Model__Width"] = "33", ["PATH"] = "/bin" }))
        {
            Assert.Equal(33, ExperimentLoader.Load(path, [], useEnvironment: true).Model.Width);
            Assert.Equal(20, ExperimentLoader.Load(path, [], useEnvironment: false).Model.Width);
        }
    }

    [Fact]
    public void MisspelledEnvironmentVariable_IsRejectedLikeAMisspelledFileKey()
    {
        string path = Write("""{ "Optimizer": { "Name": "adam" } }""");
        using (ExperimentLoader.UseEnvironment(new Dictionary<string, string> { ["IBFLOW_Optimizer__Etaa0"] = "0.1" }))
        {
            ExperimentException e = Assert.Throws<ExperimentException>(() => ExperimentLoader.Load(path, [], useEnvironment: true));
            Assert.Equal("Optimizer:Etaa0", e.Key);
            Assert.Contains("IBFLOW_", e.File);
            Assert.Contains("Eta0", e.Message);
        }
    }

    [Theory]
    [InlineData("Stop:TargetLogLoss", "-Infinity")]
    [InlineData("Stop:TargetLogLoss", "1e309")]
    [InlineData("Stop:TargetLogLoss", "1e308")]
    [InlineData("Stop:TargetLogLoss", "-1e308")]
    [InlineData("Stop:MaxTime", "Infinity")]
    [InlineData("Optimizer:Eta0", "∞")]
    [InlineData("Optimizer:C1", "1e308")]
    [InlineData("Optimizer:TimeOffset", "5e-324")]
    [InlineData("Model:InitScale", "1e308")]
    [InlineData("Save:Times", "1,Infinity")]
    [InlineData("Save:Snapshots", "-1e309")]
    [InlineData("Name", "/abs")]
    [InlineData("Name", "../x")]
    [InlineData("Name", "..")]
    [InlineData("Name", "a\\0b")]
    [InlineData("Name", "a\\nb")]
    [InlineData("Name", "")]
    public void UnusableValue_IsRejectedNamingTheKey(string key, string value)
    {
        string path = Write("""{ "Optimizer": { "Name": "adam" } }""");
        ExperimentException e = Fails(path, $"--{key}={value.Replace("\\0", "\0").Replace("\\n", "\n")}");
        Assert.Equal(key, e.Key);
        Assert.DoesNotContain('\n', e.Message);
        Assert.DoesNotContain('\0', e.Message);
    }

    [Fact]
    public void LongName_IsRejected_AndTheMessageStaysShort()
    {
        ExperimentException e = Fails(Write("{ \"Name\": \"" + new string('x', 300) + "\" }"));
        Assert.Equal("Name", e.Key);
        Assert.Contains("300 characters", e.Message);
        Assert.True(e.Message.Length < 300, e.Message);
    }

    [Theory]
    [InlineData("""{ "Optimizer": { "Name": "adam", "Eta0": [0.1] } }""", "Optimizer:Eta0")]
    [InlineData("""{ "Model": { "Width": { "a": 3 } } }""", "Model:Width")]
    [InlineData("""{ "Loss": ["logistic"] }""", "Loss")]
    [InlineData("""{ "Name": ["a"] }""", "Name")]
    [InlineData("""{ "Stop": { "MaxTime": [1, 2] } }""", "Stop:MaxTime")]
    [InlineData("""{ "Optimizers": ["adam"] }""", "Optimizers:0")]
    [InlineData("""{ "Optimizer": { "Name": "muon-adam", "Blocks": true } }""", "Optimizer:Blocks")]
    [InlineData("""{ "Optimizer": "adam" }""", "Optimizer")]
    [InlineData("""{ "Data": 5 }""", "Data")]
    [InlineData("""{ "Seeds": { "a": 1 } }""", "Seeds:a")]
    [InlineData("""{ "Save": { "Times": [[1]] } }""", "Save:Times:0")]
    [InlineData("""{ "Optimizers": [] }""", "Optimizers")]
    public void WrongShape_ListWhereValueOrValueWhereSection_IsRejected(string json, string key)
    {
        ExperimentException e = Fails(Write(json));
        Assert.Equal(key, e.Key);
    }

    [Fact]
    public void HugeInitialRate_NamesTheKeyThatMakesIt()
    {
        string path = Write("""{ "Optimizer": { "Name": "adam" } }""");
        Assert.Equal("Optimizer:Eta0", Fails(path, "--Optimizer:Eta0=1e300").Key);
        Assert.Equal("Optimizer:TimeOffset", Fails(path, "--Optimizer:TimeOffset=1e-12", "--Optimizer:Power=10").Key);
    }

    [Fact]
    public void EndlessDiscreteRun_IsWarnedAbout()
    {
        string path = Write("""{ "Optimizer": { "Name": "ngd" }, "Solver": { "Method": "discrete", "Step": 1e-9 }, "Stop": { "MaxSteps": 1000000000 } }""");
        Assert.Contains("discrete steps", Assert.Single(ExperimentLoader.Load(path, [], false).Warnings));
        Assert.Empty(ExperimentLoader.Load(path, ["--Stop:MaxSteps=1000"], false).Warnings);
    }

    [Fact]
    public void TopLevelKeys_CanBeOverridden()
    {
        ExperimentSettings s = ExperimentLoader.Load(Write("""{ "Optimizer": { "Name": "adam" } }"""), ["--Loss=logistic", "--Seeds=4,5", "--Name=other"], false);
        Assert.Equal(LossKind.Logistic, s.Loss);
        Assert.Equal([4UL, 5UL], s.Seeds);
        Assert.Equal("other", s.Name);
    }

    [Fact]
    public void HugeSizes_AreRefusedBeforeAllocating_NamingTheKeys()
    {
        string path = Write("""{ "Optimizer": { "Name": "ngd" } }""");
        ExperimentException e = Fails(path, "--Data:Samples=1000000", "--Data:Dimension=1000000");
        Assert.Contains("GB", e.Message);
        Assert.Contains("Data:Samples", e.Message);
        e = Fails(path, "--Model:Width=1000000", "--Model:Depth=3");
        Assert.Contains("Model:Width", e.Message);
    }

    [Fact]
    public void DataKinds_ReadTheirKeys_AndMnistHonoursSamples()
    {
        string path = Write("""{ "Optimizer": { "Name": "ngd" } }""");
        DataSettings npy = ExperimentLoader.Load(path, ["--Data:Kind=npy", "--Data:X=a.npy", "--Data:Y=b.npy"], false).Data;
        Assert.Equal(("npy", "a.npy", "b.npy"), (npy.Kind, npy.X, npy.Y));
        DataSettings csv = ExperimentLoader.Load(path, ["--Data:Kind=csv", "--Data:File=d.csv", "--Data:LabelColumn=y"], false).Data;
        Assert.Equal(("csv", "d.csv", "y"), (csv.Kind, csv.File, csv.LabelColumn));
        Assert.Equal(2048, ExperimentLoader.Load(path, ["--Data:Kind=mnist"], false).Data.Samples);
        Assert.Equal(100, ExperimentLoader.Load(path, ["--Data:Kind=mnist", "--Data:Samples=100"], false).Data.Samples);
        Assert.Equal("Data:Y", Fails(path, "--Data:Kind=npy", "--Data:X=a.npy").Key);
        Assert.Equal("Data:File", Fails(path, "--Data:Kind=csv").Key);

        // A key the kind does not read is named in a warning, not ignored in silence.
        ExperimentSettings unused = ExperimentLoader.Load(path, ["--Data:Kind=mnist", "--Data:Dimension=5"], false);
        Assert.Contains("Data:Dimension", Assert.Single(unused.Warnings));
    }

    [Fact]
    public void SeveralOptimizers_AndPerBlockComposition()
    {
        string path = Write("""
        { "Optimizers": [ { "Name": "ngd" },
                          { "Blocks": [ { "Block": "matrices", "Name": "muon", "Eta0": 0.05 }, { "Block": "output", "Name": "adam", "Eta0": 0.01 } ] } ] }
        """);
        ExperimentSettings s = ExperimentLoader.Load(path, [], false);
        Assert.Equal(2, s.Optimizers.Count);
        Assert.Equal("muon@matrices+adam@output", s.Optimizers[1].Label);
        ExperimentException e = Fails(Write("""{ "Optimizers": [ { "Blocks": [ { "Block": "hidden", "Name": "muon" } ] } ] }"""));
        Assert.Equal("Optimizers:0:Blocks:0:Block", e.Key);
    }

    [Fact]
    public void SeedList_RejectsNonNumbers()
    {
        ExperimentException e = Fails(Write("""{ "Seeds": [1, "two"] }"""));
        Assert.Equal("Seeds:1", e.Key);
    }
}

public class ShippedExperimentTests
{
    public static TheoryData<string> Files()
    {
        var data = new TheoryData<string>();
        foreach (string f in Directory.GetFiles(Path.Combine(RepositoryRoot(), "experiments"), "*.json"))
        {
            data.Add(Path.GetFileName(f));
        }

        return data;
    }

    internal static string RepositoryRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "ImplicitBias.Flow.sln")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        return dir ?? throw new InvalidOperationException("repository root not found");
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void EveryShippedExperiment_LoadsWithoutErrorsOrWarnings(string file)
    {
        ExperimentSettings s = ExperimentLoader.Load(Path.Combine(RepositoryRoot(), "experiments", file), [], useEnvironment: false);
        Assert.NotEmpty(s.Optimizers);
        Assert.Empty(s.Warnings);
    }
}
