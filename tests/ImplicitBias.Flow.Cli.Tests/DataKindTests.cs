using System.Globalization;
using System.Text;
using ImplicitBias.Flow.Core.IO;
using ImplicitBias.Flow.Models.Data;

namespace ImplicitBias.Flow.Cli.Tests;

/// <summary>A researcher's own data (Data:Kind = npy, csv) runs exactly like the same data through the MNIST path.</summary>
public sealed class DataKindTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-datakind-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = Program.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    // Tests cannot download MNIST: a fake cache of 6 digits per class with distinct pixel values, as ibflow data writes it.
    private string FakeMnist()
    {
        string folder = Path.Combine(_dir, "mnist");
        var classes = Enumerable.Range(0, 10)
            .Select(c => Enumerable.Range(0, 6 * MnistDigits.Pixels).Select(k => ((((c * 7919) + (k * 104729)) % 1000) / 1000.0)).ToArray())
            .ToArray();
        new MnistDigits(classes).WriteCache(Path.Combine(folder, "mnist.bin"));
        return folder;
    }

    private string Experiment(string mnistFolder)
    {
        string path = Path.Combine(_dir, "e.json");
        File.WriteAllText(path, $$"""
        { "Name": "own-data",
          "Data": { "Kind": "mnist", "Samples": 37, "Directory": "{{mnistFolder.Replace("\\", "\\\\", StringComparison.Ordinal)}}" },
          "Model": { "Depth": 2, "Width": 3, "InitScale": 0.1, "Seed": 4 },
          "Optimizer": { "Name": "ngd", "Eta0": 0.5 },
          "Solver": { "Backend": "cpu" },
          "Stop": { "MaxTime": 20, "MaxSteps": 40, "TargetLogLoss": -30 },
          "Save": { "PointsPerDecade": 4 },
          "Outputs": { "Plots": false, "Npy": false } }
        """);
        return path;
    }

    [Fact]
    public void NpyAndCsvWrittenFromTheMnistSubset_GiveTheSameTrajectoryAsTheMnistPath()
    {
        string exp = Experiment(FakeMnist());
        string fromMnist = Path.Combine(_dir, "mnist-run"), fromNpy = Path.Combine(_dir, "npy-run"), fromCsv = Path.Combine(_dir, "csv-run"), npy = Path.Combine(_dir, "npy");
        (int code, _, string err) = Run("run", exp, "--out", fromMnist);
        Assert.True(code == 0, err);

        (code, string written, err) = Run("data", "npy", exp, "--out", npy);
        Assert.True(code == 0, err);
        Assert.Contains("37 × 784", written);
        NpyArray x = Npy.ReadFile(Path.Combine(npy, "X.npy")), y = Npy.ReadFile(Path.Combine(npy, "y.npy"));
        Assert.Equal([37, 784], x.Shape);

        // The class-balanced rule at m = 37: digits 0–6 give 4 each, 7–9 give 3; +1 for even digits.
        Assert.Equal(Enumerable.Range(0, 10).SelectMany(c => Enumerable.Repeat(c % 2 == 0 ? 1.0 : -1.0, c < 7 ? 4 : 3)), y.Data);

        (code, _, err) = Run("run", exp, "--out", fromNpy, "--Data:Kind=npy", $"--Data:X={Path.Combine(npy, "X.npy")}", $"--Data:Y={Path.Combine(npy, "y.npy")}");
        Assert.True(code == 0, err);

        var csv = new StringBuilder(string.Join(",", Enumerable.Range(0, 784).Select(p => $"p{p}")) + ",digitParity\n");
        for (int i = 0; i < 37; i++)
        {
            csv.Append(string.Join(",", x.Data.Skip(i * 784).Take(784).Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
            csv.Append(',').Append(y.Data[i].ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        string csvFile = Path.Combine(_dir, "d.csv");
        File.WriteAllText(csvFile, csv.ToString());
        (code, _, err) = Run("run", exp, "--out", fromCsv, "--Data:Kind=csv", $"--Data:File={csvFile}", "--Data:LabelColumn=digitParity");
        Assert.True(code == 0, err);

        string reference = File.ReadAllText(Path.Combine(fromMnist, "trajectory.csv"));
        Assert.True(reference.Split('\n').Length > 5, reference);
        Assert.Equal(reference, File.ReadAllText(Path.Combine(fromNpy, "trajectory.csv")));
        Assert.Equal(reference, File.ReadAllText(Path.Combine(fromCsv, "trajectory.csv")));

        // config.json of the npy run reruns it: the data keys it records are the ones Data:Kind = npy reads.
        string config = File.ReadAllText(Path.Combine(fromNpy, "config.json"));
        Assert.Contains("\"Kind\": \"npy\"", config);
        Assert.DoesNotContain("Directory", config);
    }

    [Fact]
    public void MnistSamples_IsHonoured_AndTooManyIsAOneLineError()
    {
        string exp = Experiment(FakeMnist());
        string outDir = Path.Combine(_dir, "o");
        (int code, _, string err) = Run("run", exp, "--out", outDir, "--Data:Samples=20");
        Assert.True(code == 0, err);
        Assert.Contains("\"Samples\": 20", File.ReadAllText(Path.Combine(outDir, "config.json")));

        (code, _, err) = Run("run", exp, "--out", Path.Combine(_dir, "o2"), "--Data:Samples=61");
        Assert.Equal(2, code);
        Assert.Single(err.Trim().Split('\n'));
        Assert.Contains("at most 60", err);
        Assert.Contains("Data:Directory", err);
    }

    [Fact]
    public void MalformedDataFile_IsAOneLineErrorNamingTheFile()
    {
        string exp = Experiment(FakeMnist());
        string x = Path.Combine(_dir, "X.npy"), y = Path.Combine(_dir, "y.npy");
        Npy.WriteFile(x, [1, 2, 3, 4], [2, 2]);
        Npy.WriteFile(y, [1, 2]);
        (int code, _, string err) = Run("run", exp, "--out", Path.Combine(_dir, "o"), "--Data:Kind=npy", $"--Data:X={x}", $"--Data:Y={y}");
        Assert.Equal(2, code);
        Assert.Single(err.Trim().Split('\n'));
        Assert.Contains("Data:Y", err);
        Assert.Contains("y.npy", err);
        Assert.Contains("−1 or +1", err);
    }
}
