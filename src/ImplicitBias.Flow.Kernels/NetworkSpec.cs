namespace ImplicitBias.Flow.Kernels;

/// <summary>Arithmetic precision of the device evaluator.</summary>
public enum Precision
{
    /// <summary>Double precision (the default): agrees with the managed evaluator to ~1e-12 relative.</summary>
    Float64,

    /// <summary>
    /// Single precision, for speed on consumer GPUs. Results agree with double precision only to ~1e-5
    /// relative; log L is still computed by log-sum-exp, so it does not underflow, but margins above ~1e7
    /// lose all relative resolution in float32.
    /// </summary>
    Float32,
}

/// <summary>
/// The activation σ of the hidden layers (docs/mathematics.md §1). Same members in the same order as the Models project's
/// ActivationKind, so a cast of the underlying int maps one to the other.
/// </summary>
public enum ActivationKind
{
    /// <summary>max(0, z), with the subgradient convention σ'(0) = 0.</summary>
    Relu,

    /// <summary>max(0, z)^q for a power q &gt; 1 (q = 2: squared ReLU).</summary>
    ReluPower,

    /// <summary>z².</summary>
    Quadratic,

    /// <summary>z (deep linear network).</summary>
    Identity,
}

/// <summary>The per-sample loss ℓ of the margin (docs/mathematics.md §1); L is the sum over samples. Same order as Models' LossKind.</summary>
public enum LossKind
{
    /// <summary>ℓ(u) = e^{−u}.</summary>
    Exponential,

    /// <summary>ℓ(u) = log(1 + e^{−u}).</summary>
    Logistic,
}

/// <summary>
/// A bias-free fully connected network and its loss, as the device evaluator sees it: input dimension d,
/// hidden widths (depth D = widths + 1; none is the linear predictor f = ⟨u, x⟩), activation and loss.
/// </summary>
/// <param name="InputDimension">d, the length of each sample.</param>
/// <param name="HiddenWidths">Widths of the hidden layers W_1 … W_{D−1}.</param>
/// <param name="Activation">σ of every hidden layer.</param>
/// <param name="Power">q for <see cref="ActivationKind.ReluPower"/> (must exceed 1); ignored otherwise.</param>
/// <param name="Loss">The per-sample loss.</param>
public sealed record NetworkSpec(
    int InputDimension,
    IReadOnlyList<int> HiddenWidths,
    ActivationKind Activation,
    double Power,
    LossKind Loss)
{
    /// <summary>
    /// The spec of a Models network and loss, so the device evaluator and the managed
    /// <c>LossEvaluator</c> are built from one description (the enums share their order; mapped by name here
    /// so a reordering cannot silently swap activations).
    /// </summary>
    public static NetworkSpec From(ImplicitBias.Flow.Models.Networks.FullyConnectedNetwork network, ImplicitBias.Flow.Models.Losses.Loss loss)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(loss);
        ActivationKind activation = network.Activation.Kind switch
        {
            ImplicitBias.Flow.Models.Networks.ActivationKind.Relu => ActivationKind.Relu,
            ImplicitBias.Flow.Models.Networks.ActivationKind.ReluPower => ActivationKind.ReluPower,
            ImplicitBias.Flow.Models.Networks.ActivationKind.Quadratic => ActivationKind.Quadratic,
            ImplicitBias.Flow.Models.Networks.ActivationKind.Identity => ActivationKind.Identity,
            _ => throw new ArgumentException($"No device activation for {network.Activation.Kind}."),
        };
        LossKind kind = loss.Kind switch
        {
            ImplicitBias.Flow.Models.Losses.LossKind.Exponential => LossKind.Exponential,
            ImplicitBias.Flow.Models.Losses.LossKind.Logistic => LossKind.Logistic,
            _ => throw new ArgumentException($"No device loss for {loss.Kind}."),
        };
        return new NetworkSpec(network.InputDimension, network.Widths.Skip(1).ToArray(), activation, network.Activation.Power, kind);
    }

    /// <summary>Checks shapes and the activation power; throws <see cref="ArgumentException"/> otherwise.</summary>
    public void Validate()
    {
        if (InputDimension <= 0)
        {
            throw new ArgumentException($"Input dimension {InputDimension} must be positive.");
        }

        ArgumentNullException.ThrowIfNull(HiddenWidths);
        if (HiddenWidths.Any(w => w <= 0))
        {
            throw new ArgumentException("Every hidden width must be positive.");
        }

        if (Activation == ActivationKind.ReluPower && !(Power > 1 && double.IsFinite(Power)))
        {
            throw new ArgumentException($"ReLU^q needs a finite power q > 1, not {Power}.");
        }
    }
}
