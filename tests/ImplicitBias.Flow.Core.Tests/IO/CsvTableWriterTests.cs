using System.Globalization;
using ImplicitBias.Flow.Core.IO;

namespace ImplicitBias.Flow.Core.Tests.IO;

public sealed class CsvTableWriterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-csv-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Doubles_RoundTripExactly_IncludingNonFinite()
    {
        double[] values =
        [
            0.1, 1.0 / 3.0, -2.5e-310, double.Epsilon, double.MaxValue, -0.0, 123456789.123456789,
            Math.PI * 1e20, double.NaN, double.PositiveInfinity, double.NegativeInfinity,
        ];
        string path = Path.Combine(_dir, "t.csv");
        new CsvTableWriter().AddColumn("x", values).Write(path);

        string[] lines = File.ReadAllLines(path);
        Assert.Equal("x", lines[0]);
        Assert.Equal(values.Length + 1, lines.Length);
        Assert.Equal("nan", lines[^3]);
        Assert.Equal("inf", lines[^2]);
        Assert.Equal("-inf", lines[^1]);
        for (int i = 0; i < values.Length; i++)
        {
            double parsed = ParseLikeNumpy(lines[i + 1]);
            Assert.Equal(BitConverter.DoubleToInt64Bits(values[i]), BitConverter.DoubleToInt64Bits(parsed));
        }
    }

    [Fact]
    public void Columns_InOrder_WithHeaderAndQuoting()
    {
        string csv = new CsvTableWriter()
            .AddColumn("step", new long[] { 0, 10 })
            .AddColumn("loss", [0.5, 0.25])
            .AddColumn("note", ["a,b", "say \"hi\""])
            .ToCsvString();
        Assert.Equal("step,loss,note\n0,0.5,\"a,b\"\n10,0.25,\"say \"\"hi\"\"\"\n", csv);
    }

    [Fact]
    public void ExponentForm_IsPlainInvariantText()
    {
        // numpy rejects locale separators or grouping; "R" gives e.g. 1E-300 which float() accepts.
        Assert.Equal("a\n1E-300\n-1.5\n", new CsvTableWriter().AddColumn("a", [1e-300, -1.5]).ToCsvString());
    }

    [Fact]
    public void MismatchedLengths_AndDuplicateNames_AreRejected()
    {
        var w = new CsvTableWriter().AddColumn("a", [1.0, 2.0]);
        Assert.Throws<ArgumentException>(() => w.AddColumn("b", [1.0]));
        Assert.Throws<ArgumentException>(() => w.AddColumn("a", [3.0, 4.0]));
        Assert.Throws<InvalidOperationException>(() => new CsvTableWriter().ToCsvString());
    }

    // numpy/pandas accept nan, inf and -inf as float literals, exactly like Python's float().
    private static double ParseLikeNumpy(string text) => text switch
    {
        "nan" => double.NaN,
        "inf" => double.PositiveInfinity,
        "-inf" => double.NegativeInfinity,
        _ => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
    };
}
