using ImplicitBias.Flow.Core.IO;
using ImplicitBias.Flow.Models.Data;

namespace ImplicitBias.Flow.Models.Tests;

public sealed class DataFilesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-datafiles-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Npy(string name, double[] data, params int[] shape)
    {
        string path = Path.Combine(_dir, name);
        ImplicitBias.Flow.Core.IO.Npy.WriteFile(path, data, shape);
        return path;
    }

    private string Text(string name, string content)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public void NpyPair_RoundTripsThroughWriteNpy()
    {
        var data = new Dataset([1, 2, 3, 4, 5, 6], [1, -1, 1], 2);
        string x = Path.Combine(_dir, "X.npy"), y = Path.Combine(_dir, "y.npy");
        DataFiles.WriteNpy(data, x, y);
        Assert.Equal([3, 2], ImplicitBias.Flow.Core.IO.Npy.ReadFile(x).Shape);
        Dataset back = DataFiles.FromNpy(x, y);
        Assert.Equal(data.X.ToArray(), back.X.ToArray());
        Assert.Equal(data.Y.ToArray(), back.Y.ToArray());
        Assert.Equal(2, back.Dimension);
    }

    [Fact]
    public void MalformedNpy_NamesTheFileAndTheDefect()
    {
        string x = Npy("x.npy", [1, 2, 3, 4, 5, 6], 3, 2);
        string y = Npy("y.npy", [1, -1, 1], 3);
        var cases = new (string X, string Y, string File, string Words)[]
        {
            (Npy("x1.npy", [1, 2, 3], 3), y, "x1.npy", "2-D"),
            (x, Npy("y2.npy", [1, -1], 2), "y2.npy", "shape (3,)"),
            (x, Npy("y3.npy", [1, 0, 1], 3), "y3.npy", "−1 or +1"),
            (Npy("x4.npy", [1, double.NaN, 3, 4, 5, 6], 3, 2), y, "x4.npy", "X[0, 1]"),
            (Npy("x5.npy", [], 0, 2), Npy("y5.npy", [], 0), "x5.npy", "at least one sample"),
            (Text("x6.npy", "not numpy"), y, "x6.npy", "bad magic"),
        };
        foreach ((string xs, string ys, string file, string words) in cases)
        {
            InvalidDataException e = Assert.Throws<InvalidDataException>(() => DataFiles.FromNpy(xs, ys));
            Assert.Contains(file, e.Message);
            Assert.Contains(words, e.Message);
        }
    }

    [Fact]
    public void Csv_LabelColumnAnywhere_FeaturesInOrder()
    {
        Dataset d = DataFiles.FromCsv(Text("d.csv", "a,y,b\n1,1,2\n3,-1,4\n\n"), "y");
        Assert.Equal([1.0, 2, 3, 4], d.X.ToArray());
        Assert.Equal([1.0, -1], d.Y.ToArray());
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("a,b\n1,1\n", "no column 'y'")]
    [InlineData("y\n1\n", "only the label column")]
    [InlineData("a,y\n1,1\n2\n", "ragged")]
    [InlineData("a,y\n1,2\n", "not −1 or +1")]
    [InlineData("a,y\nNaN,1\n", "not a finite number")]
    [InlineData("a,y\nx,1\n", "not a finite number")]
    [InlineData("a,y\n", "no data rows")]
    public void MalformedCsv_NamesTheFileAndTheDefect(string content, string words)
    {
        string path = Text("bad.csv", content);
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => DataFiles.FromCsv(path, "y"));
        Assert.Contains("bad.csv", e.Message);
        Assert.Contains(words, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
