namespace ImplicitBias.Flow.Cli.Commands;

/// <summary>Finds the default experiment and picks output folders that never overwrite earlier runs.</summary>
internal static class ExperimentFiles
{
    /// <summary>The default experiment of <c>ibflow run</c>.</summary>
    public const string Quickstart = "experiments/quickstart.json";

    /// <summary>
    /// experiments/quickstart.json found from the working directory or the program's folder upwards (a clone of the
    /// repository); elsewhere (an installed tool) the copy built into the program, written to a temporary file.
    /// </summary>
    /// <returns>The file to load and how to name it to the user.</returns>
    public static (string Path, string Shown) FindQuickstart()
    {
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (string? dir = start; dir is not null; dir = Path.GetDirectoryName(dir))
            {
                string candidate = Path.Combine(dir, Quickstart);
                if (File.Exists(candidate))
                {
                    string relative = Path.GetRelativePath(Directory.GetCurrentDirectory(), candidate);
                    return (relative, relative);
                }
            }
        }

        return (BuiltInQuickstart(), "the built-in quickstart");
    }

    /// <summary>Writes the quickstart embedded in the program to a temporary quickstart.json and returns its path.</summary>
    public static string BuiltInQuickstart()
    {
        using Stream stream = typeof(ExperimentFiles).Assembly.GetManifestResourceStream("quickstart.json")
            ?? throw new UserError($"no experiment given and this build of ibflow carries no quickstart; pass an experiment file: ibflow run EXPERIMENT.json");
        using var reader = new StreamReader(stream);
        string folder = Directory.CreateTempSubdirectory("ibflow-quickstart-").FullName;
        string path = Path.Combine(folder, "quickstart.json");
        File.WriteAllText(path, reader.ReadToEnd());
        return path;
    }

    /// <summary>
    /// The value of an output-folder option (<c>--out</c>): a user error when it is empty, holds a NUL, or names an
    /// existing file rather than a folder.
    /// </summary>
    public static string? OutputFolder(string? value, string option = "--out")
    {
        if (value is null)
        {
            return null;
        }

        if (string.IsNullOrWhiteSpace(value) || value.Contains('\0', StringComparison.Ordinal))
        {
            throw new UserError($"{option} '{value.Replace("\0", "\\0", StringComparison.Ordinal)}' is not a folder name.");
        }

        if (File.Exists(value))
        {
            throw new UserError($"{option} '{value}' is a file, not a folder.");
        }

        return value;
    }

    /// <summary>runs/NAME, or runs/NAME-2, -3, … when that folder already holds files, so nothing is overwritten.</summary>
    public static string FreshRunDirectory(string name)
    {
        string basePath = Path.Combine("runs", name);
        string path = basePath;
        for (int n = 2; Directory.Exists(path) && Directory.EnumerateFileSystemEntries(path).Any(); n++)
        {
            path = $"{basePath}-{n}";
        }

        return path;
    }
}
