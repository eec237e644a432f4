using System.Text;

namespace ImplicitBias.Flow.Core.IO;

/// <summary>
/// Writes files so that readers (and a crash mid-write) only ever see the old complete file or the new
/// complete file, never a truncated one: content goes to a temporary file in the same folder, is flushed to
/// disk, and then replaces the target with a single rename.
/// </summary>
public static class AtomicFile
{
    private static readonly UTF8Encoding Utf8NoBom = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Atomically writes <paramref name="contents"/> as UTF-8 (no BOM) to <paramref name="path"/>.</summary>
    /// <param name="path">Target file; its folder is created if missing.</param>
    /// <param name="contents">Text to write.</param>
    public static void WriteAllText(string path, string contents)
    {
        ArgumentNullException.ThrowIfNull(contents);
        Write(path, stream =>
        {
            byte[] bytes = Utf8NoBom.GetBytes(contents);
            stream.Write(bytes, 0, bytes.Length);
        });
    }

    /// <summary>Atomically writes <paramref name="bytes"/> to <paramref name="path"/>.</summary>
    /// <param name="path">Target file; its folder is created if missing.</param>
    /// <param name="bytes">Bytes to write.</param>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        byte[] copy = bytes.ToArray();
        Write(path, stream => stream.Write(copy, 0, copy.Length));
    }

    /// <summary>
    /// Atomically writes whatever <paramref name="writer"/> puts into the stream it is given. If the writer
    /// throws, the target is left untouched, the temporary file is deleted and the exception propagates.
    /// </summary>
    /// <param name="path">Target file; its folder is created if missing.</param>
    /// <param name="writer">Writes the content; must not dispose or close the stream itself.</param>
    public static void Write(string path, Action<Stream> writer)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(writer);

        string fullPath = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(fullPath)
            ?? throw new ArgumentException($"'{path}' has no parent folder.", nameof(path));
        Directory.CreateDirectory(directory);

        // Same folder as the target: a rename within one file system is atomic, across file systems it is a copy.
        string tempPath = Path.Combine(directory, $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                writer(stream);
                // Flush(true) reaches the disk (fsync), so after the rename the new name never points at
                // data still sitting only in the OS cache.
                stream.Flush(flushToDisk: true);
            }

            File.Move(tempPath, fullPath, overwrite: true);
        }
        catch (IOException e) when (e.Message.Contains(tempPath, StringComparison.Ordinal))
        {
            // "No space left on device : '/out/.summary.json.<guid>.tmp'": name the file the user knows instead.
            TryDelete(tempPath);
            throw new IOException(e.Message.Replace(tempPath, fullPath, StringComparison.Ordinal), e);
        }
        catch
        {
            TryDelete(tempPath);
            throw;
        }
    }

    private static void TryDelete(string tempPath)
    {
        try
        {
            File.Delete(tempPath);
        }
        catch (IOException)
        {
            // Best effort: the original exception matters more than a leftover temp file.
        }
        catch (UnauthorizedAccessException)
        {
            // Same reasoning as above.
        }
    }
}
