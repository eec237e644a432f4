using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Experiments.Configuration;

/// <summary>The words an experiment file may use, in one place so messages and docs agree.</summary>
public static class Vocabulary
{
    /// <summary>Data:Kind.</summary>
    public static readonly string[] DataKinds = ["gaussian", "xor", "mnist", "idx", "npy", "csv"];

    /// <summary>Model:Activation.</summary>
    public static readonly string[] Activations = ["relu", "relu-q", "quadratic", "identity"];

    /// <summary>Loss: each word and the loss it names (read once by the loader; config.json writes the word back).</summary>
    public static readonly (string Word, LossKind Value)[] LossWords = [("exponential", LossKind.Exponential), ("logistic", LossKind.Logistic)];

    /// <summary>Loss.</summary>
    public static readonly string[] Losses = LossWords.Select(w => w.Word).ToArray();

    /// <summary>Optimizer:Name: every name of <see cref="OptimizerRegistry"/> (read at each use, so registered optimizers count).</summary>
    public static IReadOnlyList<string> Optimizers => OptimizerRegistry.Names;

    /// <summary>Optimizers whose direction needs weight matrices (a model of depth ≥ 2): the definitions that say so.</summary>
    public static IReadOnlyList<string> MatrixOptimizers => OptimizerRegistry.All.Where(d => d.NeedsMatrices).Select(d => d.Name).ToArray();

    /// <summary>Optimizer:Blocks:N:Block: each word and the blocks it selects.</summary>
    public static readonly (string Word, BlockSelector Value)[] BlockWords = [("matrices", BlockSelector.Matrices), ("output", BlockSelector.Output)];

    /// <summary>Optimizer:Blocks:N:Block — which parameter blocks a per-block entry covers.</summary>
    public static readonly string[] BlockSelectors = BlockWords.Select(w => w.Word).ToArray();

    /// <summary>Solver:Backend.</summary>
    public static readonly string[] Backends = ["auto", "cpu", "ilgpu-cpu", "cuda"];

    /// <summary>Solver:Precision — the arithmetic of the gradient's products with the data (state and error control stay float64).</summary>
    public static readonly string[] Precisions = ["float64", "float32"];

    /// <summary>
    /// Solver:Method: "auto" (the measured default per optimizer), every method of <see cref="MethodCatalog"/> in its
    /// order, the explicit-then-exponential pairs (<see cref="MethodCatalog.Pairs"/>), and "discrete" (the discrete
    /// optimizer).
    /// </summary>
    public static IReadOnlyList<string> Methods { get; } = new[] { "auto" }.Concat(MethodCatalog.All.Select(m => m.Name)).Concat(MethodCatalog.Pairs.Select(m => m.Name)).Append("discrete").Distinct().ToArray();

    /// <summary>Optimizer:SignMode: each word and the sign it names.</summary>
    public static readonly (string Word, SignMode Value)[] SignModeWords = [("smooth", SignMode.Smooth), ("exact", SignMode.Exact)];

    /// <summary>Solver:SignMode for SignGD/Signum: a smoothed sign of relative width, or the exact sign.</summary>
    public static readonly string[] SignModes = SignModeWords.Select(w => w.Word).ToArray();

    /// <summary>The value a word names in <paramref name="words"/> (the word was checked against them when read).</summary>
    public static T Value<T>(IReadOnlyList<(string Word, T Value)> words, string word)
    {
        ArgumentNullException.ThrowIfNull(words);
        foreach ((string w, T value) in words)
        {
            if (w == word)
            {
                return value;
            }
        }

        throw new ArgumentException($"'{word}' is not one of {string.Join(", ", words.Select(w => w.Word))}.", nameof(word));
    }

    /// <summary>The word of <paramref name="value"/> in <paramref name="words"/> (config.json and labels write it).</summary>
    public static string Word<T>(IReadOnlyList<(string Word, T Value)> words, T value)
    {
        ArgumentNullException.ThrowIfNull(words);
        foreach ((string word, T v) in words)
        {
            if (EqualityComparer<T>.Default.Equals(v, value))
            {
                return word;
            }
        }

        throw new ArgumentOutOfRangeException(nameof(value), value, "no word for this value");
    }
}

/// <summary>Which parameter blocks a per-block optimizer entry covers (Optimizer:Blocks:N:Block).</summary>
public enum BlockSelector
{
    /// <summary>The weight matrices W_1 … W_{D−1} ("matrices").</summary>
    Matrices,

    /// <summary>The output row u ("output").</summary>
    Output,
}

/// <summary>Data section.</summary>
/// <param name="Kind">gaussian, xor, mnist (the paper's digits), idx (user's IDX files), npy (X and y as .npy) or csv.</param>
/// <param name="Samples">Number of samples m (synthetic kinds; the class-balanced subset size for mnist/idx; 0 for npy/csv, whose file sets it).</param>
/// <param name="Dimension">Input dimension d (synthetic kinds; 784 for mnist/idx; 0 for npy/csv, whose file sets it).</param>
/// <param name="Seed">Generator seed.</param>
/// <param name="Directory">Folder of the converted MNIST data or of the IDX files.</param>
/// <param name="X">npy: the m×d inputs (.npy, float64 or float32).</param>
/// <param name="Y">npy: the m labels ±1 (.npy).</param>
/// <param name="File">csv: the data file (header row, one row per sample).</param>
/// <param name="LabelColumn">csv: the name of the label column.</param>
public sealed record DataSettings(string Kind, int Samples, int Dimension, ulong Seed, string Directory, string? X = null, string? Y = null, string? File = null, string LabelColumn = "label");

/// <summary>Model section.</summary>
/// <param name="Depth">D ≥ 1 (1 is the linear predictor).</param>
/// <param name="Width">Hidden width k of every hidden layer.</param>
/// <param name="Activation">relu, relu-q, quadratic or identity.</param>
/// <param name="Q">Exponent q of relu-q (q &gt; 1).</param>
/// <param name="InitScale">α multiplying the Kaiming-normal initialization.</param>
/// <param name="Seed">Initialization seed.</param>
/// <param name="Init">Optional .npy file with θ(0).</param>
public sealed record ModelSettings(int Depth, int Width, string Activation, double Q, double InitScale, ulong Seed, string? Init);

/// <summary>One optimizer (a flow and its discrete counterpart).</summary>
/// <param name="Name">One of <see cref="Vocabulary.Optimizers"/>.</param>
/// <param name="Eta0">η0 of the schedule η(t) = η0 (t + t_off)^{−a}.</param>
/// <param name="Power">a.</param>
/// <param name="TimeOffset">t_off.</param>
/// <param name="Beta1">Discrete β1 (momentum); c1 = −log β1 per unit of time.</param>
/// <param name="Beta2">Discrete β2 (second moment); c2 = −log β2.</param>
/// <param name="C1">Rate c1 of dm/dt = c1 (g − m).</param>
/// <param name="C2">Rate c2 of dv/dt = c2 (g² − v).</param>
/// <param name="Epsilon">Adam's ε (0 in the theory).</param>
/// <param name="SignWidth">Relative width of the smoothed sign (SignGD, Signum).</param>
/// <param name="SignMode">The smoothed or the exact sign (Optimizer:SignMode, smooth or exact).</param>
/// <param name="MuonEta0">Muon-Adam: η0ᴹ of the matrices.</param>
/// <param name="AdamEta0">Muon-Adam: η0ᴬ of the output row.</param>
/// <param name="MuonC">Muon-Adam: momentum rate cM of the matrices.</param>
/// <param name="Blocks">Per-block overrides (composite optimizers), empty for a plain optimizer.</param>
public sealed record OptimizerSettings(
    string Name,
    double Eta0,
    double Power,
    double TimeOffset,
    double Beta1,
    double Beta2,
    double C1,
    double C2,
    double Epsilon,
    double SignWidth,
    SignMode SignMode,
    double MuonEta0,
    double AdamEta0,
    double MuonC,
    IReadOnlyList<BlockOptimizerSettings> Blocks)
{
    /// <summary>A short label for folders and legends, e.g. "adam".</summary>
    public string Label => Blocks.Count == 0 ? Name : string.Join("+", Blocks.Select(b => $"{b.Optimizer.Name}@{Vocabulary.Word(Vocabulary.BlockWords, b.Block)}"));
}

/// <summary>One block's optimizer in a composite: <paramref name="Block"/> is the matrices or the output row.</summary>
public sealed record BlockOptimizerSettings(BlockSelector Block, OptimizerSettings Optimizer);

/// <summary>Solver section.</summary>
/// <param name="Method">One of <see cref="Vocabulary.Methods"/>.</param>
/// <param name="RelTol">Relative tolerance of every block.</param>
/// <param name="AbsTol">Absolute tolerance of every block.</param>
/// <param name="BlockScale">κ: each block's atol is raised to κ · max |y_b| (block-scaled norm); 0 disables.</param>
/// <param name="Backend">auto, cpu, ilgpu-cpu or cuda.</param>
/// <param name="Step">Time step h of a discrete run (Method = discrete).</param>
/// <param name="Precision">float64, or float32 for the gradient's products with the data (cpu backend, every network).</param>
/// <param name="JacobianModelRank">
/// ngd on the cpu backend: the rank of the Gauss–Newton model of the flow's Jacobian that the Rosenbrock-W stepper puts in
/// its W (fewer gradient evaluations, more linear algebra per step); 0 (the default): none.
/// </param>
public sealed record SolverSettings(string Method, double RelTol, double AbsTol, double BlockScale, string Backend, double Step, string Precision = "float64", int JacobianModelRank = 0);

/// <summary>Stop section: the run ends at the first criterion met.</summary>
/// <param name="TargetLogLoss">Stop when log L ≤ this (natural log).</param>
/// <param name="MaxTime">Stop at this flow time.</param>
/// <param name="MaxSteps">Stop after this many accepted steps (or discrete steps).</param>
public sealed record StopSettings(double TargetLogLoss, double MaxTime, long MaxSteps);

/// <summary>Save section.</summary>
/// <param name="PointsPerDecade">Log-spaced save points per decade of t (when no explicit times).</param>
/// <param name="Times">Explicit save times (optional).</param>
/// <param name="Snapshots">Times at which θ is written as .npy.</param>
/// <param name="Sharpness">
/// Record the preconditioned sharpness λmax(P⁻¹∇²L) and the discrete optimizer's threshold at every save (columns
/// sharpness, sharpnessThreshold; 40 gradient evaluations a save). Only for optimizers with a preconditioner.
/// </param>
public sealed record SaveSettings(int PointsPerDecade, IReadOnlyList<double> Times, IReadOnlyList<double> Snapshots, bool Sharpness = false);

/// <summary>Outputs section.</summary>
/// <param name="Plots">Write plots/*.html.</param>
/// <param name="Npy">Write θ snapshots as .npy.</param>
public sealed record OutputSettings(bool Plots, bool Npy);

/// <summary>Checkpoint section.</summary>
/// <param name="Seconds">Wall-clock seconds between checkpoints of a running solve (0: after every step).</param>
public sealed record CheckpointSettings(double Seconds);

/// <summary>A fully resolved, validated experiment.</summary>
public sealed record ExperimentSettings(
    string Name,
    string SourceFile,
    DataSettings Data,
    ModelSettings Model,
    LossKind Loss,
    IReadOnlyList<OptimizerSettings> Optimizers,
    SolverSettings Solver,
    StopSettings Stop,
    SaveSettings Save,
    IReadOnlyList<ulong> Seeds,
    OutputSettings Outputs,
    IReadOnlyList<string> Warnings)
{
    /// <summary>When a running solve writes its checkpoint.</summary>
    public CheckpointSettings Checkpoint { get; init; } = new(60);
}
