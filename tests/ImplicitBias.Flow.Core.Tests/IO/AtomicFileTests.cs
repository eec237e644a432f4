using ImplicitBias.Flow.Core.IO;

namespace ImplicitBias.Flow.Core.Tests.IO;

public sealed class AtomicFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-atomic-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void WriteAllText_CreatesFolderAndFile_LeavesNoTemp()
    {
        string path = Path.Combine(_dir, "sub", "a.txt");
        AtomicFile.WriteAllText(path, "héllo");
        Assert.Equal("héllo", File.ReadAllText(path));
        // No BOM: tools like numpy would otherwise see it in the first header name.
        Assert.Equal(0x68, File.ReadAllBytes(path)[0]);
        Assert.Single(Directory.GetFiles(Path.Combine(_dir, "sub")));
    }

    [Fact]
    public void WriteAllBytes_OverwritesExistingFile()
    {
        string path = Path.Combine(_dir, "b.bin");
        File.WriteAllBytes(path, [9, 9, 9, 9, 9]);
        AtomicFile.WriteAllBytes(path, new byte[] { 1, 2, 3 });
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(_dir));
    }

    [Fact]
    public void Write_StreamCallback_WritesContent()
    {
        string path = Path.Combine(_dir, "c.bin");
        AtomicFile.Write(path, s =>
        {
            s.WriteByte(7);
            s.WriteByte(8);
        });
        Assert.Equal(new byte[] { 7, 8 }, File.ReadAllBytes(path));
    }

    [Fact]
    public void Write_WriterThrows_TargetUntouchedAndTempRemoved()
    {
        string path = Path.Combine(_dir, "d.txt");
        File.WriteAllText(path, "original");
        var ex = Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write("partial"u8);
            throw new InvalidOperationException("boom");
        }));
        Assert.Equal("boom", ex.Message);
        Assert.Equal("original", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(_dir));
    }

    [Fact]
    public void Write_WriterThrows_NoTargetCreatedWhenAbsent()
    {
        string path = Path.Combine(_dir, "e.txt");
        Assert.Throws<IOException>(() => AtomicFile.Write(path, _ => throw new IOException("disk full")));
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public void Write_FailingWithTheTemporaryPath_NamesTheTargetInstead()
    {
        string path = Path.Combine(_dir, "f.txt");
        File.WriteAllText(path, "before");
        IOException e = Assert.Throws<IOException>(() => AtomicFile.Write(path, s => throw new IOException($"No space left on device : '{((FileStream)s).Name}'")));
        Assert.Equal($"No space left on device : '{path}'", e.Message);
        Assert.Equal("before", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(_dir));
    }
}
