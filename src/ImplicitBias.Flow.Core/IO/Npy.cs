using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace ImplicitBias.Flow.Core.IO;

/// <summary>A float64 array read from or written to a <c>.npy</c> file: data in C order and its shape.</summary>
/// <param name="Data">Values in C (row-major) order.</param>
/// <param name="Shape">Shape: one entry (1-D) or two (2-D).</param>
public sealed record NpyArray(double[] Data, int[] Shape);

/// <summary>
/// Minimal NumPy <c>.npy</c> reader/writer for 1-D and 2-D arrays. Writes little-endian float64 ('&lt;f8'), C order,
/// format 1.0; reads float64 and float32, C or Fortran order, format 1.0, 2.0 and 3.0 headers. Parameter snapshots use it (θ as a 1-D array in
/// <see cref="Parameters.ParameterLayout"/> order).
/// </summary>
public static class Npy
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Writes a 1-D array.</summary>
    public static void Write(Stream stream, ReadOnlySpan<double> data) => Write(stream, data, [data.Length]);

    /// <summary>Writes an array of the given shape (1-D or 2-D; product must equal the data length).</summary>
    public static void Write(Stream stream, ReadOnlySpan<double> data, ReadOnlySpan<int> shape)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (shape.Length is < 1 or > 2)
        {
            throw new ArgumentException("Only 1-D and 2-D arrays are supported.", nameof(shape));
        }

        long count = 1;
        foreach (int s in shape)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(s, nameof(shape));
            count *= s;
        }

        if (count != data.Length)
        {
            throw new ArgumentException($"Shape holds {count} values; data has {data.Length}.", nameof(shape));
        }

        string shapeText = shape.Length == 1
            ? string.Create(CultureInfo.InvariantCulture, $"({shape[0]},)")
            : string.Create(CultureInfo.InvariantCulture, $"({shape[0]}, {shape[1]})");
        string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': " + shapeText + ", }";

        // Format 1.0: magic, version, uint16 header length; the header is padded with spaces and ends in '\n' so
        // that magic + 4 + header is a multiple of 64 (NumPy's alignment).
        int unpadded = Magic.Length + 2 + 2 + dict.Length + 1;
        int padding = (64 - (unpadded % 64)) % 64;
        string header = dict + new string(' ', padding) + "\n";
        Span<byte> pre = stackalloc byte[10];
        Magic.CopyTo(pre);
        pre[6] = 1;
        pre[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(pre[8..], checked((ushort)header.Length));
        stream.Write(pre);
        stream.Write(Encoding.ASCII.GetBytes(header));
        var buffer = new byte[8 * Math.Min(data.Length, 8192)];
        for (int start = 0; start < data.Length; start += 8192)
        {
            int n = Math.Min(8192, data.Length - start);
            for (int k = 0; k < n; k++)
            {
                BinaryPrimitives.WriteDoubleLittleEndian(buffer.AsSpan(8 * k), data[start + k]);
            }

            stream.Write(buffer, 0, 8 * n);
        }
    }

    /// <summary>Writes a 1-D array to a file atomically (see <see cref="AtomicFile"/>).</summary>
    public static void WriteFile(string path, ReadOnlySpan<double> data) => WriteFile(path, data, [data.Length]);

    /// <summary>Writes an array of the given shape to a file atomically (see <see cref="AtomicFile"/>).</summary>
    public static void WriteFile(string path, ReadOnlySpan<double> data, ReadOnlySpan<int> shape)
    {
        ArgumentNullException.ThrowIfNull(path);
        double[] copy = data.ToArray();
        int[] dims = shape.ToArray();
        AtomicFile.Write(path, stream => Write(stream, copy, dims));
    }

    /// <summary>Reads a file; every defect is an <see cref="InvalidDataException"/> whose message names the file.</summary>
    public static NpyArray ReadFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var fs = File.OpenRead(path);
        try
        {
            return Read(fs);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"'{path}': {e.Message}", e);
        }
    }

    /// <summary>Largest header accepted: NumPy's own headers are a few hundred bytes.</summary>
    private const int MaxHeaderLength = 1 << 16;

    /// <summary>
    /// Reads a little-endian float64 ('&lt;f8') or float32 ('&lt;f4', widened exactly) 1-D or 2-D array, in C or
    /// Fortran order (returned in C order). A malformed or truncated file, a shape that is not whole non-negative
    /// numbers, or a shape larger than the stream are reported as <see cref="InvalidDataException"/> before anything
    /// large is allocated.
    /// </summary>
    public static NpyArray Read(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        try
        {
            return ReadChecked(stream);
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException("truncated .npy file (it ends inside the header or the data).");
        }
    }

    private static NpyArray ReadChecked(Stream stream)
    {
        Span<byte> pre = stackalloc byte[8];
        stream.ReadExactly(pre);
        if (!pre[..6].SequenceEqual(Magic))
        {
            throw new InvalidDataException("not a .npy file (bad magic).");
        }

        long headerLength;
        if (pre[6] == 1)
        {
            Span<byte> len = stackalloc byte[2];
            stream.ReadExactly(len);
            headerLength = BinaryPrimitives.ReadUInt16LittleEndian(len);
        }
        else if (pre[6] is 2 or 3)
        {
            Span<byte> len = stackalloc byte[4];
            stream.ReadExactly(len);
            headerLength = BinaryPrimitives.ReadUInt32LittleEndian(len);
        }
        else
        {
            throw new InvalidDataException($"unsupported .npy version {pre[6]}.{pre[7]}.");
        }

        if (headerLength > MaxHeaderLength)
        {
            throw new InvalidDataException($".npy header length {headerLength} is implausible (at most {MaxHeaderLength}).");
        }

        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        string header = Encoding.Latin1.GetString(headerBytes);
        string descr = DictValue(header, "descr").Trim().Trim('\'', '"');
        int itemSize = descr switch
        {
            "<f8" or "float64" => 8,
            "<f4" or "float32" => 4,
            _ => throw new InvalidDataException($"only little-endian float64 ('<f8') and float32 ('<f4') are supported; found '{descr}'."),
        };

        bool fortran = DictValue(header, "fortran_order").Trim() switch
        {
            "False" => false,
            "True" => true,
            string other => throw new InvalidDataException($".npy header has fortran_order = '{other}'."),
        };

        int[] shape = ParseShape(DictValue(header, "shape"));
        long count = 1;
        foreach (int s in shape)
        {
            count *= s; // each s < 2^31 and at most two of them: no overflow
        }

        if (count > Array.MaxLength)
        {
            throw new InvalidDataException($"shape ({string.Join(", ", shape)}) holds {count} values, more than one array can.");
        }

        if (stream.CanSeek && stream.Length - stream.Position < count * itemSize)
        {
            throw new InvalidDataException($"shape ({string.Join(", ", shape)}) needs {count * itemSize} bytes of data but the file holds {stream.Length - stream.Position}.");
        }

        var data = new double[count];
        var buffer = new byte[itemSize * 8192];
        for (long start = 0; start < count; start += 8192)
        {
            int n = (int)Math.Min(8192, count - start);
            stream.ReadExactly(buffer, 0, n * itemSize);
            for (int k = 0; k < n; k++)
            {
                data[start + k] = itemSize == 8
                    ? BinaryPrimitives.ReadDoubleLittleEndian(buffer.AsSpan(8 * k))
                    : BinaryPrimitives.ReadSingleLittleEndian(buffer.AsSpan(4 * k));
            }
        }

        if (fortran && shape.Length == 2)
        {
            // Column-major m×d → row-major.
            var c = new double[count];
            for (int i = 0; i < shape[0]; i++)
            {
                for (int j = 0; j < shape[1]; j++)
                {
                    c[((long)i * shape[1]) + j] = data[((long)j * shape[0]) + i];
                }
            }

            data = c;
        }

        return new NpyArray(data, shape);
    }

    // "(3, 4)" → [3, 4]: one or two whole, non-negative numbers.
    private static int[] ParseShape(string text)
    {
        string trimmed = text.Trim();
        if (!trimmed.StartsWith('(') || !trimmed.EndsWith(')'))
        {
            throw new InvalidDataException($".npy shape '{trimmed}' is not a tuple.");
        }

        string[] parts = trimmed[1..^1].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length is < 1 or > 2)
        {
            throw new InvalidDataException($"only 1-D and 2-D arrays are supported; shape {trimmed} has {parts.Length} dimensions.");
        }

        var shape = new int[parts.Length];
        for (int k = 0; k < parts.Length; k++)
        {
            string p = parts[k].TrimEnd('L'); // Python 2 wrote longs as 3L
            if (!int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out shape[k]))
            {
                throw new InvalidDataException($".npy shape {trimmed}: '{parts[k]}' is not a size (a whole number from 0 to {int.MaxValue}).");
            }
        }

        return shape;
    }

    // Value text of key in a Python dict literal such as {'descr': '<f8', 'fortran_order': False, 'shape': (3,), }.
    private static string DictValue(string header, string key)
    {
        int k = header.IndexOf("'" + key + "'", StringComparison.Ordinal);
        if (k < 0)
        {
            k = header.IndexOf("\"" + key + "\"", StringComparison.Ordinal);
        }

        if (k < 0)
        {
            throw new InvalidDataException($".npy header lacks '{key}'.");
        }

        int colon = header.IndexOf(':', k);
        if (colon < 0)
        {
            throw new InvalidDataException($".npy header has no value for '{key}'.");
        }

        int start = colon + 1;
        int end;
        string rest = header[start..].TrimStart();
        start = header.Length - rest.Length;
        if (rest.StartsWith('('))
        {
            end = header.IndexOf(')', start) + 1;
        }
        else
        {
            end = header.IndexOf(',', start);
            if (end < 0)
            {
                end = header.IndexOf('}', start);
            }
        }

        if (end <= start)
        {
            throw new InvalidDataException($".npy header value of '{key}' is not closed.");
        }

        return header[start..end];
    }
}
