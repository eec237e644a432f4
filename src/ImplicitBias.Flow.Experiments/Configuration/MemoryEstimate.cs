using System.Globalization;

namespace ImplicitBias.Flow.Experiments.Configuration;

/// <summary>
/// An upper estimate of the memory a run needs, checked before anything is allocated: sizes inside the documented
/// ranges (Data:Samples 1e6 × Data:Dimension 1e6, Model:Width 1e6 at depth 3) can ask for terabytes, and the user
/// should hear so in one line rather than watch the process die.
/// </summary>
public static class MemoryEstimate
{
    /// <summary>
    /// State-sized vectors a solve may hold at once: θ and up to two moments per parameter, times the stages, error
    /// and temporary vectors of the largest stepper (DOP853: 12 stages + 4), the observers' copies and the discrete
    /// optimizer's state. Deliberately generous: the check refuses only what cannot fit.
    /// </summary>
    private const double StateVectors = 3 * 20;

    /// <summary>Number of parameters P of a fully connected bias-free network (docs/mathematics.md §1).</summary>
    public static double Parameters(ModelSettings model, double inputDimension)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Depth == 1)
        {
            return inputDimension;
        }

        return (inputDimension * model.Width) + ((model.Depth - 2) * (double)model.Width * model.Width) + model.Width;
    }

    /// <summary>Bytes a run on m samples of dimension d needs at most (data, activations of every layer, solver state).</summary>
    public static double Bytes(double samples, double dimension, ModelSettings model)
    {
        ArgumentNullException.ThrowIfNull(model);
        double data = 3 * samples * dimension; // the file or generator copy, the data set, the gradient backend's copy
        double activations = 4 * samples * (double)model.Width * (model.Depth - 1); // pre-activations, activations, their adjoints
        return 8 * (data + activations + (StateVectors * Parameters(model, dimension)));
    }

    /// <summary>Memory this process may use (the GC's view: physical memory or the container's limit).</summary>
    public static double AvailableBytes() => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    /// <summary>
    /// Throws an <see cref="ExperimentException"/> naming the keys when the run cannot fit in memory. Data kinds read
    /// from files (npy, csv) are checked once their size is known (dimension 0 here skips the check).
    /// </summary>
    public static void Check(string file, DataSettings data, ModelSettings model, int optimizers)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Dimension > 0)
        {
            Check(file, data.Samples, data.Dimension, model, "Data:Samples × Data:Dimension and Model:Width × Model:Depth");
        }
    }

    /// <summary>Throws when m samples of dimension d with this model need more memory than the machine has.</summary>
    public static void Check(string file, double samples, double dimension, ModelSettings model, string keys)
    {
        ArgumentNullException.ThrowIfNull(model);
        double need = Bytes(samples, dimension, model), have = AvailableBytes();
        if (need > 0.8 * have)
        {
            throw new ExperimentException(
                file,
                string.Create(CultureInfo.InvariantCulture, $"a run with {samples:G4} samples of dimension {dimension:G4} and Model:Width = {model.Width}, Model:Depth = {model.Depth} ({Parameters(model, dimension):G3} parameters) needs about {Gigabytes(need)} of memory and this machine has {Gigabytes(have)}; reduce {keys}"));
        }
    }

    /// <summary>A byte count in GB for messages.</summary>
    public static string Gigabytes(double bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e9:G3} GB");
}
