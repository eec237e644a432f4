using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;

namespace ImplicitBias.Flow.Experiments.Running;

/// <summary>The data, loss and network of an experiment, built once for all its runs.</summary>
public sealed class ExperimentModel
{
    /// <summary>Builds them; mistakes in the experiment throw <see cref="ExperimentException"/>.</summary>
    public ExperimentModel(ExperimentSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Data = ExperimentBuilder.Data(settings);
        Loss = ExperimentBuilder.Loss(settings);
        Network = ExperimentBuilder.Network(settings.Model, Data.Dimension);
    }

    /// <summary>The dataset.</summary>
    public Dataset Data { get; }

    /// <summary>The loss.</summary>
    public Loss Loss { get; }

    /// <summary>The network.</summary>
    public FullyConnectedNetwork Network { get; }
}
