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
    public void RejectsOtherDtypesAndMalformedHeaders()
    {
        foreach (string dict in new[]
        {
            "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }",
            "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
            "{'descr': '<f8', 'fortran_order': Maybe, 'shape': (2,), }",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (abc,), }",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, 4), }",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999,), }",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2000000000, 2000000000), }",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", // 24 bytes needed, 16 present
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2,",
            "{'descr': '<f8', 'fortran_order': False, }",
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
    public void Float32AndFortranOrder_AreReadAsFloat64InCOrder()
    {
        // float32 [[1, 2, 3], [4, 5, 6]] stored column-major: 1, 4, 2, 5, 3, 6.
        string dict = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }";
        using var ms = new MemoryStream();
        ms.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, (byte)(dict.Length + 1), 0]);
        ms.Write(Encoding.ASCII.GetBytes(dict + "\n"));
        foreach (float v in new[] { 1f, 4f, 2f, 5f, 3f, 6.1f })
        {
            ms.Write(BitConverter.GetBytes(v));
        }

        ms.Position = 0;
        NpyArray a = Npy.Read(ms);
        Assert.Equal([2, 3], a.Shape);
        Assert.Equal([1.0, 2.0, 3.0, 4.0, 5.0, (double)6.1f], a.Data);
    }

    [Fact]
    public void HugeVersion2HeaderLength_IsRejectedBeforeAllocating()
    {
        using var ms = new MemoryStream();
        ms.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 2, 0, 0xF0, 0xFF, 0xFF, 0x0F]);
        ms.Position = 0;
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => Npy.Read(ms));
        Assert.Contains("header length", e.Message);
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
