using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace ImplicitBias.Flow.Core.IO;

/// <summary>A float64 array read from or written to a <c>.npy</c> file: data in C order and its shape.</summary>
/// <param name="Data">Values in C (row-major) order.</param>
/// <param name="Shape">Shape: one entry (1-D) or two (2-D).</param>
public sealed record NpyArray(double[] Data, int[] Shape);

/// <summary>
/// Minimal NumPy <c>.npy</c> reader/writer for little-endian float64 ('&lt;f8'), 1-D and 2-D, C order. Writes
/// format 1.0; reads 1.0 and 2.0 headers. Parameter snapshots use it (θ as a 1-D array in
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

    /// <summary>Writes a 1-D array to a file atomically (temporary file, then rename).</summary>
    public static void WriteFile(string path, ReadOnlySpan<double> data)
    {
        ArgumentNullException.ThrowIfNull(path);
        string temp = path + ".tmp-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        using (var fs = File.Create(temp))
        {
            Write(fs, data);
        }

        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Reads a file.</summary>
    public static NpyArray ReadFile(string path)
    {
        using var fs = File.OpenRead(path);
        return Read(fs);
    }

    /// <summary>Reads a '&lt;f8' C-order 1-D or 2-D array.</summary>
    public static NpyArray Read(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Span<byte> pre = stackalloc byte[8];
        stream.ReadExactly(pre);
        if (!pre[..6].SequenceEqual(Magic))
        {
            throw new InvalidDataException("Not a .npy file (bad magic).");
        }

        int headerLength;
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
            headerLength = checked((int)BinaryPrimitives.ReadUInt32LittleEndian(len));
        }
        else
        {
            throw new InvalidDataException($"Unsupported .npy version {pre[6]}.{pre[7]}.");
        }

        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        string header = Encoding.Latin1.GetString(headerBytes);
        string descr = DictValue(header, "descr").Trim().Trim('\'', '"');
        if (descr is not ("<f8" or "float64"))
        {
            throw new InvalidDataException($"Only little-endian float64 ('<f8') is supported; found '{descr}'.");
        }

        if (DictValue(header, "fortran_order").Trim() != "False")
        {
            throw new InvalidDataException("Fortran-order arrays are not supported.");
        }

        string shapeText = DictValue(header, "shape").Trim().TrimStart('(').TrimEnd(')');
        int[] shape = shapeText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        if (shape.Length is < 1 or > 2)
        {
            throw new InvalidDataException($"Only 1-D and 2-D arrays are supported; shape has {shape.Length} dimensions.");
        }

        long count = 1;
        foreach (int s in shape)
        {
            count *= s;
        }

        var bytes = new byte[checked(8 * (int)count)];
        stream.ReadExactly(bytes);
        var data = new double[count];
        for (int k = 0; k < data.Length; k++)
        {
            data[k] = BinaryPrimitives.ReadDoubleLittleEndian(bytes.AsSpan(8 * k));
        }

        return new NpyArray(data, shape);
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

        return header[start..end];
    }
}
