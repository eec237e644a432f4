using System.Globalization;
using ImplicitBias.Flow.Flows.Schedules;
using Microsoft.Extensions.Configuration;

namespace ImplicitBias.Flow.Experiments.Configuration;

/// <summary>
/// Reads an experiment: the JSON file, then environment variables prefixed <c>IBFLOW_</c>
/// (<c>IBFLOW_Optimizer__Eta0=0.1</c>), then command-line overrides in the configuration library's syntax
/// (<c>--Optimizer:Eta0=0.1</c>), later sources winning. Every value is validated; unknown keys are errors.
/// </summary>
public static class ExperimentLoader
{
    /// <summary>Prefix of environment variables that override experiment keys.</summary>
    public const string EnvironmentPrefix = "IBFLOW_";

    /// <summary>Loads and validates an experiment. Throws <see cref="ExperimentException"/> for any mistake.</summary>
    /// <param name="path">The experiment JSON file.</param>
    /// <param name="overrides">Command-line overrides such as <c>--Optimizer:Eta0=0.1</c>.</param>
    /// <param name="useEnvironment">Whether to read <c>IBFLOW_</c> environment variables.</param>
    public static ExperimentSettings Load(string path, IReadOnlyList<string>? overrides = null, bool useEnvironment = true)
    {
        ArgumentNullException.ThrowIfNull(path);
        overrides ??= [];
        string fullPath = Path.GetFullPath(path);
        if (!File.Exists(fullPath))
        {
            throw new ExperimentException(path, "file not found");
        }

        IConfigurationRoot fileOnly = Build(b => b.AddJsonFile(fullPath, optional: false, reloadOnChange: false), path);
        IConfigurationRoot commandLine = Build(b => b.AddCommandLine(overrides.ToArray()), "command line");
        IConfigurationRoot merged = Build(
            b =>
            {
                b.AddJsonFile(fullPath, optional: false, reloadOnChange: false);
                if (useEnvironment)
                {
                    b.AddEnvironmentVariables(EnvironmentPrefix);
                }

                b.AddCommandLine(overrides.ToArray());
            },
            path);

        var reader = new SettingsReader(merged, path);
        ExperimentSettings settings = Read(reader, path, Path.GetFileNameWithoutExtension(path));
        RejectUnknownKeys(fileOnly, reader, path);
        RejectUnknownKeys(commandLine, reader, "command line");
        return settings;
    }

    /// <summary>The homogeneity degree L = 1 + q + … + q^{D−1} of a model (docs/mathematics.md §1).</summary>
    public static double Homogeneity(ModelSettings model)
    {
        ArgumentNullException.ThrowIfNull(model);
        double q = model.Activation switch
        {
            "relu-q" => model.Q,
            "quadratic" => 2,
            _ => 1,
        };
        double sum = 0, power = 1;
        for (int k = 0; k < model.Depth; k++)
        {
            sum += power;
            power *= q;
        }

        return sum;
    }

    /// <summary>The schedule assumption of an optimizer's theorem (paper Sec. 2.3 and 3).</summary>
    public static ScheduleAssumption AssumptionFor(string optimizer) => optimizer switch
    {
        "ngd" or "signgd" or "spectral" => ScheduleAssumption.Nsd,
        "nmomentum" or "signum" or "muon" or "muon-signum" => ScheduleAssumption.Msd,
        "adam" or "muon-adam" => ScheduleAssumption.Adam,
        _ => ScheduleAssumption.None,
    };

    private static IConfigurationRoot Build(Action<ConfigurationBuilder> add, string source)
    {
        var builder = new ConfigurationBuilder();
        add(builder);
        try
        {
            return builder.Build();
        }
        catch (Exception e) when (e is FormatException or InvalidDataException or System.Text.Json.JsonException)
        {
            string detail = e.InnerException?.Message ?? e.Message;
            throw new ExperimentException(source, $"could not be read: {detail}");
        }
    }

    private static ExperimentSettings Read(SettingsReader r, string path, string defaultName)
    {
        string name = r.Raw("Name") ?? defaultName;
        var data = new DataSettings(
            r.Choice("Data:Kind", "gaussian", Vocabulary.DataKinds),
            (int)r.Integer("Data:Samples", 64, 1, 1_000_000),
            (int)r.Integer("Data:Dimension", 10, 1, 1_000_000),
            (ulong)r.Integer("Data:Seed", 1, 0),
            r.Raw("Data:Directory") ?? Path.Combine("data", "mnist"));

        string activation = r.Choice("Model:Activation", "relu-q", Vocabulary.Activations);
        var model = new ModelSettings(
            (int)r.Integer("Model:Depth", 2, 1, 16),
            (int)r.Integer("Model:Width", 20, 1, 1_000_000),
            activation,
            activation == "relu-q" ? r.Double("Model:Q", 2, 1, 64, minExclusive: true) : r.Double("Model:Q", 2, 1, 64, minExclusive: true),
            r.Double("Model:InitScale", 0.01, 0, double.MaxValue, minExclusive: true),
            (ulong)r.Integer("Model:Seed", 1, 0),
            r.Raw("Model:Init"));
        string loss = r.Choice("Loss", "exponential", Vocabulary.Losses);

        var optimizers = new List<OptimizerSettings>();
        IReadOnlyList<IConfigurationSection> listed = r.Sections("Optimizers");
        if (listed.Count > 0)
        {
            if (r.Has("Optimizer:Name"))
            {
                throw new ExperimentException(path, "Optimizer", "(section)", "give either Optimizer (one) or Optimizers (a list), not both");
            }

            foreach (IConfigurationSection s in listed)
            {
                optimizers.Add(ReadOptimizer(r, s.Path));
            }
        }
        else
        {
            optimizers.Add(ReadOptimizer(r, "Optimizer"));
        }

        var solver = new SolverSettings(
            r.Choice("Solver:Method", "auto", Vocabulary.Methods),
            r.Double("Solver:RelTol", 1e-6, 0, 1, minExclusive: true),
            r.Double("Solver:AbsTol", 1e-9, 0, 1, minExclusive: true),
            r.Double("Solver:BlockScale", 1e-3, 0, 1),
            r.Choice("Solver:Backend", "auto", Vocabulary.Backends),
            r.Double("Solver:Step", 1.0, 0, 1e6, minExclusive: true));

        double? targetLoss = r.OptionalDouble("Stop:TargetLoss", 0, double.MaxValue, minExclusive: true);
        double targetLogLoss = r.Double("Stop:TargetLogLoss", targetLoss is double tl ? Math.Log(tl) : Math.Log(1e-8));
        if (targetLoss is double tl2 && r.Has("Stop:TargetLogLoss") && Math.Abs(Math.Log(tl2) - targetLogLoss) > 1e-12 * Math.Abs(targetLogLoss))
        {
            throw new ExperimentException(path, "Stop:TargetLoss", tl2.ToString("R", CultureInfo.InvariantCulture), "give Stop:TargetLoss or Stop:TargetLogLoss, not two different targets");
        }

        var stop = new StopSettings(
            targetLogLoss,
            r.Double("Stop:MaxTime", 1e12, 0, double.MaxValue, minExclusive: true),
            r.Integer("Stop:MaxSteps", 1_000_000, 1));

        var save = new SaveSettings(
            (int)r.Integer("Save:PointsPerDecade", 10, 1, 10_000),
            r.DoubleList("Save:Times", 0),
            r.DoubleList("Save:Snapshots", 0));

        IReadOnlyList<long> seeds = r.IntegerList("Seeds");
        if (seeds.Any(s => s < 0))
        {
            throw new ExperimentException(path, "Seeds", string.Join(",", seeds), "seeds must be ≥ 0");
        }

        var outputs = new OutputSettings(r.Boolean("Outputs:Plots", true), r.Boolean("Outputs:Npy", true));
        var checkpoint = new CheckpointSettings(r.Double("Checkpoint:Seconds", 60, 0, 1e9));

        var warnings = new List<string>();
        double homogeneity = Homogeneity(model);
        for (int i = 0; i < optimizers.Count; i++)
        {
            OptimizerSettings o = optimizers[i];
            string key = listed.Count > 0 ? $"Optimizers:{i}:Name" : "Optimizer:Name";
            IEnumerable<string> names = o.Blocks.Count > 0 ? o.Blocks.Select(b => b.Optimizer.Name) : [o.Name];
            foreach (string n in names)
            {
                if (model.Depth < 2 && Vocabulary.MatrixOptimizers.Contains(n))
                {
                    throw new ExperimentException(path, key, n, $"'{n}' orthogonalizes weight matrices and Model:Depth = 1 has none; use Model:Depth ≥ 2 or one of: {string.Join(", ", Vocabulary.Optimizers.Except(Vocabulary.MatrixOptimizers))}");
                }

                var schedule = new PowerLawSchedule(o.Eta0, o.Power, o.TimeOffset);
                foreach (string w in ScheduleAssumptions.Check(schedule, AssumptionFor(n), homogeneity))
                {
                    warnings.Add($"{path}: {key} = '{n}' with Optimizer:Power = {o.Power.ToString(CultureInfo.InvariantCulture)}: {w}");
                }
            }
        }

        return new ExperimentSettings(
            name,
            path,
            data,
            model,
            loss,
            optimizers,
            solver,
            stop,
            save,
            seeds.Count > 0 ? seeds.Select(s => (ulong)s).ToArray() : [model.Seed],
            outputs,
            warnings)
        {
            Checkpoint = checkpoint,
        };
    }

    private static OptimizerSettings ReadOptimizer(SettingsReader r, string prefix, bool nested = false)
    {
        if (!r.Has($"{prefix}:Name") && !r.Has($"{prefix}:Blocks"))
        {
            r.Sections($"{prefix}:Blocks");
        }

        string optimizerName = r.Choice($"{prefix}:Name", nested ? "adam" : "ngd", Vocabulary.Optimizers);
        double beta1 = r.Double($"{prefix}:Beta1", 0.9, 0, 1, minExclusive: true);
        double beta2 = r.Double($"{prefix}:Beta2", 0.999, 0, 1, minExclusive: true);
        if (beta1 >= 1 || beta2 >= 1)
        {
            throw new ExperimentException(r.File, $"{prefix}:Beta1", beta1.ToString(CultureInfo.InvariantCulture), "β must lie in (0, 1)");
        }

        // A discrete step takes unit time, so β = e^{−c} (docs/mathematics.md §4); either may be given, the other is derived.
        double c1 = r.Has($"{prefix}:C1") ? r.Double($"{prefix}:C1", 0, 0, double.MaxValue, minExclusive: true) : -Math.Log(beta1);
        double c2 = r.Has($"{prefix}:C2") ? r.Double($"{prefix}:C2", 0, 0, double.MaxValue, minExclusive: true) : -Math.Log(beta2);
        if (r.Has($"{prefix}:C1") && r.Has($"{prefix}:Beta1"))
        {
            throw new ExperimentException(r.File, $"{prefix}:C1", r.Raw($"{prefix}:C1"), $"give {prefix}:Beta1 or {prefix}:C1, not both");
        }

        if (r.Has($"{prefix}:C2") && r.Has($"{prefix}:Beta2"))
        {
            throw new ExperimentException(r.File, $"{prefix}:C2", r.Raw($"{prefix}:C2"), $"give {prefix}:Beta2 or {prefix}:C2, not both");
        }

        double eta0 = r.Double($"{prefix}:Eta0", DefaultEta0(optimizerName), 0, double.MaxValue, minExclusive: true);
        double muonEta0 = r.Double($"{prefix}:MuonEta0", eta0, 0, double.MaxValue, minExclusive: true);
        double adamEta0 = r.Double($"{prefix}:AdamEta0", eta0, 0, double.MaxValue, minExclusive: true);
        double muonC = r.Has($"{prefix}:MuonC") ? r.Double($"{prefix}:MuonC", c1, 0, double.MaxValue, minExclusive: true) : c1;

        var blocks = new List<BlockOptimizerSettings>();
        if (!nested)
        {
            foreach (IConfigurationSection s in r.Sections($"{prefix}:Blocks"))
            {
                string block = r.Choice($"{s.Path}:Block", "matrices", Vocabulary.BlockSelectors);
                if (blocks.Any(b => b.Block == block))
                {
                    throw new ExperimentException(r.File, $"{s.Path}:Block", block, "each block selector may appear once");
                }

                blocks.Add(new BlockOptimizerSettings(block, ReadOptimizer(r, s.Path, nested: true)));
            }
        }

        return new OptimizerSettings(
            optimizerName,
            eta0,
            r.Double($"{prefix}:Power", 0.8, -10, 10),
            r.Double($"{prefix}:TimeOffset", 1.0, 0, double.MaxValue, minExclusive: true),
            Math.Exp(-c1),
            Math.Exp(-c2),
            c1,
            c2,
            r.Double($"{prefix}:Epsilon", 0.0, 0, 1),
            r.Double($"{prefix}:SignWidth", 1e-3, 0, 1, minExclusive: true),
            r.Choice($"{prefix}:SignMode", "smooth", Vocabulary.SignModes),
            muonEta0,
            adamEta0,
            muonC,
            blocks);
    }

    /// <summary>The paper's Table 1 initial rates for squared ReLU, used when Eta0 is not given.</summary>
    private static double DefaultEta0(string optimizer) => optimizer switch
    {
        "gd" => 1.5,
        "ngd" => 1.5,
        "nmomentum" or "momentum" => 0.3,
        "signgd" or "signum" => 3e-3,
        "adam" => 5e-3,
        "spectral" or "muon" => 8e-2,
        _ => 5e-2,
    };

    private static void RejectUnknownKeys(IConfigurationRoot source, SettingsReader reader, string file)
    {
        foreach (KeyValuePair<string, string?> pair in source.AsEnumerable())
        {
            if (pair.Value is null || reader.KnownKeys.Contains(pair.Key) || IsListItem(pair.Key, reader))
            {
                continue;
            }

            string section = pair.Key.Contains(':', StringComparison.Ordinal) ? pair.Key[..pair.Key.LastIndexOf(':')] : string.Empty;
            string[] siblings = reader.KnownKeys
                .Where(k => (section.Length == 0 ? !k.Contains(':', StringComparison.Ordinal) : k.StartsWith(section + ":", StringComparison.OrdinalIgnoreCase)) && !k[(section.Length == 0 ? 0 : section.Length + 1)..].Contains(':', StringComparison.Ordinal))
                .Select(k => section.Length == 0 ? k : k[(section.Length + 1)..])
                .Distinct(StringComparer.OrdinalIgnoreCase)
                .OrderBy(k => k, StringComparer.Ordinal)
                .ToArray();
            throw new ExperimentException(file, pair.Key, pair.Value, $"unknown key; known keys{(section.Length > 0 ? $" in {section}" : string.Empty)}: {string.Join(", ", siblings)}");
        }
    }

    private static bool IsListItem(string key, SettingsReader reader)
    {
        int colon = key.LastIndexOf(':');
        return colon > 0 && int.TryParse(key[(colon + 1)..], NumberStyles.Integer, CultureInfo.InvariantCulture, out _) && reader.KnownKeys.Contains(key[..colon]);
    }
}
