using ImplicitBias.Flow.Experiments.Configuration;

namespace ImplicitBias.Flow.Cli.Commands;

/// <summary>Finds the default experiment and picks output folders that never overwrite earlier runs.</summary>
internal static class ExperimentFiles
{
    /// <summary>The default experiment of <c>ibflow run</c>.</summary>
    public const string Quickstart = "experiments/quickstart.json";

    /// <summary>How errors and messages name the quickstart built into the program.</summary>
    public const string BuiltInName = "the built-in quickstart";

    /// <summary>
    /// The experiment named on the command line (<paramref name="positional"/>, at most one) or, without one, the default
    /// experiment: experiments/quickstart.json found from the working directory or the program's folder upwards (a clone
    /// of the repository), elsewhere (an installed tool) the copy built into the program. Loaded with the overrides.
    /// </summary>
    /// <returns>The settings and how to name the experiment to the user.</returns>
    public static (ExperimentSettings Settings, string Shown) Load(IReadOnlyList<string> positional, IReadOnlyList<string> overrides)
    {
        if (positional.Count == 1)
        {
            return (ExperimentLoader.Load(positional[0], overrides), positional[0]);
        }

        string? inClone = FindQuickstart();
        return inClone is not null ? (ExperimentLoader.Load(inClone, overrides), inClone) : (LoadBuiltInQuickstart(overrides), BuiltInName);
    }

    /// <summary>experiments/quickstart.json from the working directory or the program's folder upwards, or null.</summary>
    private static string? FindQuickstart()
    {
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (string? dir = start; dir is not null; dir = Path.GetDirectoryName(dir))
            {
                string candidate = Path.Combine(dir, Quickstart);
                if (File.Exists(candidate))
                {
                    return Path.GetRelativePath(Directory.GetCurrentDirectory(), candidate);
                }
            }
        }

        return null;
    }

    /// <summary>
    /// Loads the quickstart embedded in the program. The loader reads files, so the copy is written to a temporary
    /// folder, which is deleted once it is read (nothing refers to it afterwards: relative paths in an experiment are
    /// taken from the working directory); an error about it names it <see cref="BuiltInName"/>, not that folder.
    /// </summary>
    internal static ExperimentSettings LoadBuiltInQuickstart(IReadOnlyList<string> overrides)
    {
        using Stream stream = typeof(ExperimentFiles).Assembly.GetManifestResourceStream("quickstart.json")
            ?? throw new UserError($"no experiment given and this build of ibflow carries no quickstart; pass an experiment file: ibflow run EXPERIMENT.json");
        using var reader = new StreamReader(stream);
        string folder = Directory.CreateTempSubdirectory("ibflow-quickstart-").FullName;
        string path = Path.Combine(folder, "quickstart.json");
        try
        {
            File.WriteAllText(path, reader.ReadToEnd());
            return ExperimentLoader.Load(path, overrides);
        }
        catch (ExperimentException e)
        {
            throw new UserError(e.Message.Replace(path, BuiltInName, StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
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
