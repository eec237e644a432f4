using System.Globalization;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Flows.Schedules;
using ImplicitBias.Flow.Models.Losses;
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
        if (string.IsNullOrWhiteSpace(path) || path.Contains('\0', StringComparison.Ordinal))
        {
            throw new ExperimentException(path.Length == 0 ? "''" : path, "not a file name; give the path of an experiment .json file");
        }

        string fullPath = Path.GetFullPath(path);
        if (Directory.Exists(fullPath))
        {
            throw new ExperimentException(path, "is a folder; give the path of an experiment .json file");
        }

        if (!File.Exists(fullPath))
        {
            throw new ExperimentException(path, "file not found");
        }

        IReadOnlyDictionary<string, string> environment = useEnvironment ? EnvironmentOverride.Value ?? ProcessEnvironment() : new Dictionary<string, string>();
        IConfigurationRoot fileOnly = Build(b => b.AddJsonFile(fullPath, optional: false, reloadOnChange: false), path);
        IConfigurationRoot fromEnvironment = Build(b => b.AddInMemoryCollection(EnvironmentKeys(environment)), "environment");
        IConfigurationRoot commandLine = Build(b => b.AddCommandLine(overrides.ToArray()), "command line");
        IConfigurationRoot merged = Build(
            b =>
            {
                b.AddJsonFile(fullPath, optional: false, reloadOnChange: false);
                b.AddInMemoryCollection(EnvironmentKeys(environment));
                b.AddCommandLine(overrides.ToArray());
            },
            path);

        var reader = new SettingsReader(merged, path);
        ExperimentSettings settings = Read(reader, path, Path.GetFileNameWithoutExtension(path));
        RejectUnknownKeys(fileOnly, reader, path);

        // A misspelled IBFLOW_ variable is as much a mistake as a misspelled key in the file.
        RejectUnknownKeys(fromEnvironment, reader, $"environment variables {EnvironmentPrefix}*");
        RejectUnknownKeys(commandLine, reader, "command line");
        return settings;
    }

    /// <summary>
    /// Replaces the process's environment variables as the source of <c>IBFLOW_</c> overrides for loads made on the
    /// current asynchronous flow until the result is disposed (tests and <c>ibflow fuzz</c> use it: environment
    /// variables are shared by the whole process).
    /// </summary>
    /// <param name="variables">Variable names (with the prefix) and values.</param>
    public static IDisposable UseEnvironment(IReadOnlyDictionary<string, string> variables)
    {
        ArgumentNullException.ThrowIfNull(variables);
        IReadOnlyDictionary<string, string>? previous = EnvironmentOverride.Value;
        EnvironmentOverride.Value = variables;
        return new Restore(() => EnvironmentOverride.Value = previous);
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

    /// <summary>The schedule assumption of an optimizer's theorem (paper Sec. 2.3 and 3), as its definition states.</summary>
    public static ScheduleAssumption AssumptionFor(string optimizer) => OptimizerRegistry.Get(optimizer).Schedule;

    private static readonly AsyncLocal<IReadOnlyDictionary<string, string>?> EnvironmentOverride = new();

    private static Dictionary<string, string> ProcessEnvironment()
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            if (e.Key is string k && e.Value is string v)
            {
                variables[k] = v;
            }
        }

        return variables;
    }

    // IBFLOW_Optimizer__Eta0=0.1 → Optimizer:Eta0 = 0.1, as the configuration library's environment provider maps it.
    private static IEnumerable<KeyValuePair<string, string?>> EnvironmentKeys(IReadOnlyDictionary<string, string> variables) =>
        variables
            .Where(p => p.Key.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase) && p.Key.Length > EnvironmentPrefix.Length)
            .OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => new KeyValuePair<string, string?>(p.Key[EnvironmentPrefix.Length..].Replace("__", ":", StringComparison.Ordinal), p.Value));

    private sealed class Restore(Action restore) : IDisposable
    {
        public void Dispose() => restore();
    }

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

    /// <summary>Longest experiment Name: it becomes a folder name under runs/.</summary>
    public const int MaxNameLength = 100;

    /// <summary>Most samples a data set may have (Data:Samples, or the rows of a data file).</summary>
    public const int MaxSamples = 1_000_000;

    /// <summary>Bounds of Stop:TargetLogLoss (natural log).</summary>
    public const double MinTargetLogLoss = -1e5, MaxTargetLogLoss = 1e3;

    /// <summary>Largest moment rate c (C1, C2, MuonC).</summary>
    public const double MaxRate = 1e3;

    /// <summary>Smallest schedule offset t_off.</summary>
    public const double MinTimeOffset = 1e-12;

    /// <summary>Largest Model:InitScale α.</summary>
    public const double MaxInitScale = 1e6;

    /// <summary>Discrete steps beyond which a run is warned about as effectively endless.</summary>
    public const double LongRunSteps = 1e7;

    /// <summary>Samples of the paper's MNIST subset, the default of Data:Samples for mnist and idx.</summary>
    public const int PaperSamples = 2048;

    private static DataSettings ReadData(SettingsReader r, List<string> warnings)
    {
        string kind = r.Choice("Data:Kind", "gaussian", Vocabulary.DataKinds);
        ulong seed = (ulong)r.Integer("Data:Seed", 1, 0);
        string directory = r.Has("Data:Directory") ? ValidPath(r, "Data:Directory") : Path.Combine("data", "mnist");
        bool synthetic = kind is "gaussian" or "xor", fromFile = kind is "npy" or "csv", digits = kind is "mnist" or "idx";

        // Keys that the kind does not use are not ignored in silence; they stay allowed (with a warning) so that
        // --Data:Kind=mnist can override an experiment written for gaussian data.
        void Unused(string key, string why)
        {
            if (r.Has(key))
            {
                warnings.Add($"{r.File}: {key} = '{r.Raw(key)}' is not used with Data:Kind = {kind}: {why}.");
            }
        }

        if (!synthetic)
        {
            Unused("Data:Dimension", kind is "mnist" or "idx" ? "MNIST digits have 784 pixels" : "the data file sets the dimension");
        }

        if (fromFile)
        {
            Unused("Data:Samples", "the data file sets the number of samples");
            Unused("Data:Directory", kind == "npy" ? "give the files as Data:X and Data:Y" : "give the file as Data:File");
        }
        else
        {
            foreach (string key in new[] { "Data:X", "Data:Y", "Data:File", "Data:LabelColumn" })
            {
                Unused(key, "only Data:Kind = npy (Data:X, Data:Y) or csv (Data:File, Data:LabelColumn) read data files");
            }
        }

        if (synthetic)
        {
            Unused("Data:Directory", "gaussian and xor data are generated");
        }

        int samples = fromFile ? 0 : (int)r.Integer("Data:Samples", digits ? PaperSamples : 64, digits ? 2 : 1, MaxSamples);
        int dimension = synthetic ? (int)r.Integer("Data:Dimension", 10, 1, 1_000_000) : digits ? 784 : 0;
        string? x = null, y = null, file = null;
        string labelColumn = "label";
        if (kind == "npy")
        {
            x = Required(r, "Data:X", "an m×d float64 or float32 .npy file of inputs");
            y = Required(r, "Data:Y", "a length-m .npy file of labels ±1");
        }
        else if (kind == "csv")
        {
            file = Required(r, "Data:File", "a .csv file with a header row and one row per sample");
            labelColumn = r.Raw("Data:LabelColumn") ?? "label";
            if (string.IsNullOrWhiteSpace(labelColumn))
            {
                throw new ExperimentException(r.File, "Data:LabelColumn", labelColumn, "expected the name of the label column in the header row");
            }
        }

        return new DataSettings(kind, samples, dimension, seed, directory, x, y, file, labelColumn);
    }

    private static string Required(SettingsReader r, string key, string what) =>
        r.Has(key) ? ValidPath(r, key) : throw new ExperimentException(r.File, key, null, $"Data:Kind = {r.Raw("Data:Kind")} needs {key}: {what}");

    // A path value: not empty, no NUL, and one the operating system can form.
    private static string ValidPath(SettingsReader r, string key)
    {
        string value = r.Raw(key)!;
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new ExperimentException(r.File, key, value, "expected a path");
        }

        try
        {
            _ = Path.GetFullPath(value);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new ExperimentException(r.File, key, value, $"not a usable path ({e.Message})");
        }

        return value;
    }

    // The name becomes the folder runs/<Name>: one plain folder name, never a path that leaves runs/.
    private static string ValidName(SettingsReader r, string name, bool given)
    {
        string? problem =
            string.IsNullOrWhiteSpace(name) ? "it is empty"
            : name.Length > MaxNameLength ? $"it has {name.Length} characters; at most {MaxNameLength}"
            : name is "." or ".." ? "it names a parent or the same folder"
            : name.Any(c => c is '/' or '\\' || char.IsControl(c) || Path.GetInvalidFileNameChars().Contains(c)) ? "it contains '/', '\\' or a control character"
            : name != name.Trim() ? "it starts or ends with a space"
            : null;
        if (problem is null)
        {
            return name;
        }

        return given
            ? throw new ExperimentException(r.File, "Name", name, $"{problem}; a Name is one folder name under runs/ (letters, digits, '-', '_', '.')")
            : throw new ExperimentException(r.File, "Name", null, $"the file name '{name}' cannot be used as the run's folder name ({problem}); give a Name");
    }

    private static ExperimentSettings Read(SettingsReader r, string path, string defaultName)
    {
        string name = ValidName(r, r.Raw("Name") ?? defaultName, r.Has("Name"));
        var warnings = new List<string>();
        DataSettings data = ReadData(r, warnings);

        string activation = r.Choice("Model:Activation", "relu-q", Vocabulary.Activations);
        var model = new ModelSettings(
            (int)r.Integer("Model:Depth", 2, 1, 16),
            (int)r.Integer("Model:Width", 20, 1, 1_000_000),
            activation,
            activation == "relu-q" ? r.Double("Model:Q", 2, 1, 64, minExclusive: true) : r.Double("Model:Q", 2, 1, 64, minExclusive: true),
            r.Double("Model:InitScale", 0.01, 0, MaxInitScale, minExclusive: true),
            (ulong)r.Integer("Model:Seed", 1, 0),
            r.Has("Model:Init") ? ValidPath(r, "Model:Init") : null);
        LossKind loss = Vocabulary.Value(Vocabulary.LossWords, r.Choice("Loss", "exponential", Vocabulary.Losses));

        var optimizers = new List<OptimizerSettings>();
        IReadOnlyList<IConfigurationSection> listed = r.Sections("Optimizers");
        if (listed.Count == 0 && r.Mentions("Optimizers"))
        {
            throw new ExperimentException(path, "Optimizers", "[]", "the list is empty; give at least one optimizer section, or use Optimizer for one");
        }
        if (listed.Count > 0)
        {
            if (r.Has("Optimizer:Name"))
            {
                throw new ExperimentException(path, "Optimizer", "(section)", "give either Optimizer (one) or Optimizers (a list), not both");
            }

            foreach (IConfigurationSection s in listed)
            {
                optimizers.Add(ReadOptimizer(r, s.Path, activation));
            }
        }
        else
        {
            optimizers.Add(ReadOptimizer(r, "Optimizer", activation));
        }

        var solver = new SolverSettings(
            r.Choice("Solver:Method", "auto", Vocabulary.Methods),
            r.Double("Solver:RelTol", 1e-6, 0, 1, minExclusive: true),
            r.Double("Solver:AbsTol", 1e-9, 0, 1, minExclusive: true),
            r.Double("Solver:BlockScale", 1e-3, 0, 1),
            r.Choice("Solver:Backend", "auto", Vocabulary.Backends),
            r.Double("Solver:Step", 1.0, 0, 1e6, minExclusive: true),
            r.Choice("Solver:Precision", "float64", Vocabulary.Precisions),
            (int)r.Integer("Solver:JacobianModelRank", 0, 0, ImplicitBias.Flow.Flows.OptimizerFlow.MaxJacobianModelRank));
        if (solver.JacobianModelRank > 0)
        {
            // Only normalized GD has the model (its Jacobian's Gauss–Newton part), and only where the model is evaluated
            // on the host; refused here rather than ignored, so that a run never silently differs from what was asked.
            string? other = optimizers.Select(o => o.Blocks.Count > 0 ? o.Label : o.Name).FirstOrDefault(name => name != ImplicitBias.Flow.Flows.Optimizers.Definitions.Ngd.Definition.Name);
            if (other is not null)
            {
                throw new ExperimentException(path, "Solver:JacobianModelRank", r.Raw("Solver:JacobianModelRank"), $"a Jacobian model exists for Optimizer:Name = ngd only (here {other}); use 0 there");
            }

            if (solver.Backend is not ("cpu" or "auto"))
            {
                throw new ExperimentException(path, "Solver:JacobianModelRank", r.Raw("Solver:JacobianModelRank"), $"the Jacobian model runs on the cpu backend only (Solver:Backend = {solver.Backend}); use 0 there");
            }
        }
        if (solver.Precision == "float32" && solver.Backend is not ("cpu" or "auto"))
        {
            throw new ExperimentException(path, "Solver:Precision", solver.Precision, $"{ImplicitBias.Flow.Models.Evaluation.LossEvaluator.Float32Scope}; Solver:Backend = {solver.Backend} allows float64 only");
        }

        double? targetLoss = r.OptionalDouble("Stop:TargetLoss", 0, double.MaxValue, minExclusive: true);
        if (targetLoss is double given && !(Math.Log(given) >= MinTargetLogLoss && Math.Log(given) <= MaxTargetLogLoss))
        {
            throw new ExperimentException(path, "Stop:TargetLoss", r.Raw("Stop:TargetLoss"), $"log of the target must lie in [{MinTargetLogLoss}, {MaxTargetLogLoss}] (see Stop:TargetLogLoss)");
        }

        // Beyond these bounds a run is effectively endless (the loss never gets there in float64 time) or the target
        // is no target (met by any network): the range is the honest answer to "C1 = 1e308"-style settings.
        double targetLogLoss = r.Double("Stop:TargetLogLoss", targetLoss is double tl ? Math.Log(tl) : Math.Log(1e-8), MinTargetLogLoss, MaxTargetLogLoss);
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
            r.DoubleList("Save:Snapshots", 0),
            r.Boolean("Save:Sharpness", false));
        MemoryEstimate.Check(path, data, model, optimizers.Count);

        IReadOnlyList<long> seeds = r.IntegerList("Seeds");
        if (seeds.Any(s => s < 0))
        {
            throw new ExperimentException(path, "Seeds", string.Join(",", seeds), "seeds must be ≥ 0");
        }

        var outputs = new OutputSettings(r.Boolean("Outputs:Plots", true), r.Boolean("Outputs:Npy", true));
        var checkpoint = new CheckpointSettings(r.Double("Checkpoint:Seconds", 60, 0, 1e9));

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

                if (save.Sharpness && (o.Blocks.Count > 0 || OptimizerRegistry.Get(n).Preconditioner == PreconditionerKind.None))
                {
                    throw new ExperimentException(path, "Save:Sharpness", "true", $"{key} = '{o.Label}' has no preconditioner P, so λmax(P⁻¹∇²L) is not defined for it; use Save:Sharpness = false or one of: {string.Join(", ", OptimizerRegistry.All.Where(d => d.Preconditioner != PreconditionerKind.None).Select(d => d.Name))}");
                }

                if (solver.Method == "discrete" && !OptimizerRegistry.Get(n).HasDiscreteForm)
                {
                    throw new ExperimentException(path, key, n, $"'{n}' has no discrete form; use a flow stepper for Solver:Method or one of: {string.Join(", ", OptimizerRegistry.All.Where(d => d.HasDiscreteForm).Select(d => d.Name))}");
                }

                var schedule = new PowerLawSchedule(o.Eta0, o.Power, o.TimeOffset);
                foreach (string w in ScheduleAssumptions.Check(schedule, AssumptionFor(n), homogeneity))
                {
                    warnings.Add($"{path}: {key} = '{n}' with Optimizer:Power = {o.Power.ToString(CultureInfo.InvariantCulture)}: {w}");
                }
            }
        }

        // A discrete run (or a fixed-step solve) of min(MaxSteps, MaxTime / Step) steps can be effectively endless.
        if (solver.Method == "discrete" && Math.Min(stop.MaxSteps, stop.MaxTime / solver.Step) > LongRunSteps)
        {
            warnings.Add(string.Create(CultureInfo.InvariantCulture, $"{path}: Solver:Step = {solver.Step:G3} with Stop:MaxTime = {stop.MaxTime:G3} and Stop:MaxSteps = {stop.MaxSteps} asks for up to {Math.Min(stop.MaxSteps, stop.MaxTime / solver.Step):G3} discrete steps, hours of work; lower Stop:MaxSteps or raise Solver:Step if that is not meant."));
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

    private static OptimizerSettings ReadOptimizer(SettingsReader r, string prefix, string activation, bool nested = false)
    {
        // A name or an alias; the definition's name is what the run records.
        string optimizerName = OptimizerRegistry.Get(r.Choice($"{prefix}:Name", nested ? "adam" : "ngd", OptimizerRegistry.NamesAndAliases)).Name;
        double beta1 = r.Double($"{prefix}:Beta1", 0.9, 0, 1, minExclusive: true);
        double beta2 = r.Double($"{prefix}:Beta2", 0.999, 0, 1, minExclusive: true);
        if (beta1 >= 1 || beta2 >= 1)
        {
            throw new ExperimentException(r.File, $"{prefix}:Beta1", beta1.ToString(CultureInfo.InvariantCulture), "β must lie in (0, 1)");
        }

        // A discrete step takes unit time, so β = e^{−c} (docs/mathematics.md §4); either may be given, the other is derived.
        // c ≤ MaxRate: β = e^{−c} is then at least e^{−1000}, below any β a float64 can tell from 0 after one step;
        // a larger c only makes the moment ODE stiffer (c = 1e308 asks for steps of 1e-308: an endless run).
        double c1 = r.Has($"{prefix}:C1") ? r.Double($"{prefix}:C1", 0, 0, MaxRate, minExclusive: true) : -Math.Log(beta1);
        double c2 = r.Has($"{prefix}:C2") ? r.Double($"{prefix}:C2", 0, 0, MaxRate, minExclusive: true) : -Math.Log(beta2);
        if (r.Has($"{prefix}:C1") && r.Has($"{prefix}:Beta1"))
        {
            throw new ExperimentException(r.File, $"{prefix}:C1", r.Raw($"{prefix}:C1"), $"give {prefix}:Beta1 or {prefix}:C1, not both");
        }

        if (r.Has($"{prefix}:C2") && r.Has($"{prefix}:Beta2"))
        {
            throw new ExperimentException(r.File, $"{prefix}:C2", r.Raw($"{prefix}:C2"), $"give {prefix}:Beta2 or {prefix}:C2, not both");
        }

        // The paper's Table 1 rate for the model's activation, from the optimizer's definition, when Eta0 is not given.
        double eta0 = r.Double($"{prefix}:Eta0", OptimizerRegistry.Get(optimizerName).DefaultEta0For(activation), 0, double.MaxValue, minExclusive: true);
        double muonEta0 = r.Double($"{prefix}:MuonEta0", eta0, 0, double.MaxValue, minExclusive: true);
        double adamEta0 = r.Double($"{prefix}:AdamEta0", eta0, 0, double.MaxValue, minExclusive: true);
        double muonC = r.Has($"{prefix}:MuonC") ? r.Double($"{prefix}:MuonC", c1, 0, MaxRate, minExclusive: true) : c1;

        var blocks = new List<BlockOptimizerSettings>();
        if (!nested)
        {
            foreach (IConfigurationSection s in r.Sections($"{prefix}:Blocks"))
            {
                string word = r.Choice($"{s.Path}:Block", "matrices", Vocabulary.BlockSelectors);
                BlockSelector block = Vocabulary.Value(Vocabulary.BlockWords, word);
                if (blocks.Any(b => b.Block == block))
                {
                    throw new ExperimentException(r.File, $"{s.Path}:Block", word, "each block selector may appear once");
                }

                blocks.Add(new BlockOptimizerSettings(block, ReadOptimizer(r, s.Path, activation, nested: true)));
            }
        }

        double power = r.Double($"{prefix}:Power", 0.8, -10, 10);
        double timeOffset = r.Double($"{prefix}:TimeOffset", 1.0, MinTimeOffset, double.MaxValue);

        // η(0) = η0 t_off^{−a} must be a number: t_off = 5e-324 with a = 0.8 gives ∞ and an infinite ∫η.
        double eta0Effective = Math.Max(eta0, Math.Max(muonEta0, adamEta0)) * Math.Pow(timeOffset, -power);
        if (!double.IsFinite(eta0Effective) || eta0Effective > 1e100)
        {
            // Blame the offset when t_off^(−a) alone is huge, else the rate itself.
            string blamed = Math.Pow(timeOffset, -power) > 1e6 ? "TimeOffset" : eta0 >= Math.Max(muonEta0, adamEta0) ? "Eta0" : muonEta0 >= adamEta0 ? "MuonEta0" : "AdamEta0";
            double shown = blamed switch { "TimeOffset" => timeOffset, "Eta0" => eta0, "MuonEta0" => muonEta0, _ => adamEta0 };
            throw new ExperimentException(r.File, $"{prefix}:{blamed}", r.Raw($"{prefix}:{blamed}") ?? shown.ToString("R", CultureInfo.InvariantCulture), $"η(0) = η0 · t_off^(−a) = {eta0Effective.ToString("G3", CultureInfo.InvariantCulture)} is not a usable rate (at most 1e100); raise TimeOffset or lower Eta0 / Power");
        }

        return new OptimizerSettings(
            optimizerName,
            eta0,
            power,
            timeOffset,
            Math.Exp(-c1),
            Math.Exp(-c2),
            c1,
            c2,
            r.Double($"{prefix}:Epsilon", 0.0, 0, 1),
            r.Double($"{prefix}:SignWidth", 1e-3, 0, 1, minExclusive: true),
            Vocabulary.Value(Vocabulary.SignModeWords, r.Choice($"{prefix}:SignMode", "smooth", Vocabulary.SignModes)),
            muonEta0,
            adamEta0,
            muonC,
            blocks);
    }

    private static void RejectUnknownKeys(IConfigurationRoot source, SettingsReader reader, string file)
    {
        foreach (KeyValuePair<string, string?> pair in source.AsEnumerable().OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (pair.Value is null || reader.KnownKeys.Contains(pair.Key) || IsListItem(pair.Key, reader))
            {
                continue;
            }

            // "Optimizer": "adam" or "Data": 5 — a value where a section belongs.
            if (reader.KnownKeys.Any(k => k.StartsWith(pair.Key + ":", StringComparison.OrdinalIgnoreCase)))
            {
                throw new ExperimentException(file, pair.Key, pair.Value, $"{pair.Key} is a section: expected {{ \"Key\": value, … }}, not one value");
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
        return colon > 0 && int.TryParse(key[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out _) && reader.ListKeys.Contains(key[..colon]);
    }
}
