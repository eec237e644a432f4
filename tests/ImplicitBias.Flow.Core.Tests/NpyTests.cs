using System.Text;
using ImplicitBias.Flow.Core.IO;

namespace ImplicitBias.Flow.Core.Tests;

public class NpyTests
{
    [Fact]
    public void OneDimensional_RoundTrips_WithAlignedVersion1Header()
    {
        double[] data = [1.5, -0.0, double.Epsilon, 1e300, Math.PI];
        using var ms = new MemoryStream();
        Npy.Write(ms, data);
        byte[] bytes = ms.ToArray();
        Assert.Equal(0x93, bytes[0]);
        Assert.Equal("NUMPY", Encoding.ASCII.GetString(bytes, 1, 5));
        Assert.Equal(1, bytes[6]);
        int headerLen = bytes[8] | (bytes[9] << 8);
        Assert.Equal(0, (10 + headerLen) % 64);
        string header = Encoding.ASCII.GetString(bytes, 10, headerLen);
        Assert.Contains("'shape': (5,)", header);
        Assert.EndsWith("\n", header);
        Assert.Equal(10 + headerLen + 40, bytes.Length);

        ms.Position = 0;
        var back = Npy.Read(ms);
        Assert.Equal([5], back.Shape);
        Assert.Equal(data.Select(BitConverter.DoubleToInt64Bits), back.Data.Select(BitConverter.DoubleToInt64Bits));
    }

    [Fact]
    public void TwoDimensional_RoundTrips()
    {
        double[] data = [1, 2, 3, 4, 5, 6];
        using var ms = new MemoryStream();
        Npy.Write(ms, data, [2, 3]);
        ms.Position = 0;
        var back = Npy.Read(ms);
        Assert.Equal([2, 3], back.Shape);
        Assert.Equal(data, back.Data);
    }

    [Fact]
    public void ReadsHeaderAsNumpyWritesIt()
    {
        // Bytes of np.save(f, np.array([1.0, 2.0])) with NumPy's own header text and padding.
        string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
        string header = dict + new string(' ', 128 - 10 - dict.Length - 1) + "\n";
        using var ms = new MemoryStream();
        ms.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, (byte)header.Length, 0]);
        ms.Write(Encoding.ASCII.GetBytes(header));
        ms.Write(BitConverter.GetBytes(1.0));
        ms.Write(BitConverter.GetBytes(2.0));
        ms.Position = 0;
        var back = Npy.Read(ms);
        Assert.Equal([1.0, 2.0], back.Data);
    }

    [Fact]
    public void RejectsOtherDtypesAndFortranOrder()
    {
        foreach (string dict in new[]
        {
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
            "{'descr': '<f8', 'fortran_order': True, 'shape': (1, 2), }",
        })
        {
            using var ms = new MemoryStream();
            ms.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, (byte)(dict.Length + 1), 0]);
            ms.Write(Encoding.ASCII.GetBytes(dict + "\n"));
            ms.Write(new byte[16]);
            ms.Position = 0;
            Assert.Throws<InvalidDataException>(() => Npy.Read(ms));
        }
    }

    [Fact]
    public void WriteFile_IsAtomicAndReadable()
    {
        string path = Path.Combine(Path.GetTempPath(), $"ibflow-npy-{Guid.NewGuid():N}.npy");
        try
        {
            Npy.WriteFile(path, [3.0, 4.0]);
            Assert.Equal([3.0, 4.0], Npy.ReadFile(path).Data);
            Assert.Empty(Directory.GetFiles(Path.GetTempPath(), Path.GetFileName(path) + ".tmp-*"));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
