namespace ImplicitBias.Flow.Models.Networks;

/// <summary>Kinds of positively homogeneous activations (docs/mathematics.md §1).</summary>
public enum ActivationKind
{
    /// <summary>max(0, z), degree 1; σ'(0) = 0 by convention.</summary>
    Relu,

    /// <summary>max(0, z)^q with q &gt; 1 (q = 2: "squared ReLU"), degree q.</summary>
    ReluPower,

    /// <summary>z², degree 2.</summary>
    Quadratic,

    /// <summary>z (deep linear network), degree 1.</summary>
    Identity,
}

/// <summary>A positively homogeneous activation σ with its degree q: σ(cz) = c^q σ(z) for c &gt; 0.</summary>
public readonly record struct Activation
{
    private Activation(ActivationKind kind, double power)
    {
        Kind = kind;
        Power = power;
    }

    /// <summary>The kind.</summary>
    public ActivationKind Kind { get; }

    /// <summary>The homogeneity degree q of σ.</summary>
    public double Power { get; }

    /// <summary>ReLU.</summary>
    public static Activation Relu => new(ActivationKind.Relu, 1.0);

    /// <summary>Squared ReLU, max(0, z)².</summary>
    public static Activation SquaredRelu => new(ActivationKind.ReluPower, 2.0);

    /// <summary>Quadratic z².</summary>
    public static Activation Quadratic => new(ActivationKind.Quadratic, 2.0);

    /// <summary>Identity.</summary>
    public static Activation Identity => new(ActivationKind.Identity, 1.0);

    /// <summary>ReLU^q for any q &gt; 1.</summary>
    public static Activation ReluPower(double q)
    {
        if (!(q > 1) || !double.IsFinite(q))
        {
            throw new ArgumentOutOfRangeException(nameof(q), q, "ReLU^q needs a finite q > 1 (q = 1 is ReLU).");
        }

        return new Activation(ActivationKind.ReluPower, q);
    }

    /// <summary>Parses "relu", "squared-relu"/"relu2", "relu^q"/"reluq" (e.g. "relu^3"), "quadratic", "identity"/"linear".</summary>
    public static Activation Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string t = text.Trim().ToUpperInvariant();
        switch (t)
        {
            case "RELU": return Relu;
            case "SQUARED-RELU" or "SQUARED_RELU" or "RELU2" or "RELU^2": return SquaredRelu;
            case "QUADRATIC": return Quadratic;
            case "IDENTITY" or "LINEAR": return Identity;
        }

        if (t.StartsWith("RELU^", StringComparison.Ordinal)
            && double.TryParse(t.AsSpan(5), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double q))
        {
            return q == 1.0 ? Relu : ReluPower(q);
        }

        throw new FormatException($"Unknown activation '{text}' (known: relu, squared-relu, relu^q, quadratic, identity).");
    }

    /// <summary>σ(z).</summary>
    public double Value(double z) => Kind switch
    {
        ActivationKind.Relu => z > 0 ? z : 0.0,
        ActivationKind.ReluPower => z > 0 ? (Power == 2.0 ? z * z : Math.Pow(z, Power)) : 0.0,
        ActivationKind.Quadratic => z * z,
        _ => z,
    };

    /// <summary>σ'(z), with σ'(0) = 0 for ReLU (docs/mathematics.md §1).</summary>
    public double Derivative(double z) => Kind switch
    {
        ActivationKind.Relu => z > 0 ? 1.0 : 0.0,
        ActivationKind.ReluPower => z > 0 ? (Power == 2.0 ? 2.0 * z : Power * Math.Pow(z, Power - 1.0)) : 0.0,
        ActivationKind.Quadratic => 2.0 * z,
        _ => 1.0,
    };

    /// <inheritdoc/>
    public override string ToString() => Kind switch
    {
        ActivationKind.Relu => "relu",
        ActivationKind.ReluPower => Power == 2.0 ? "squared-relu" : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"relu^{Power}"),
        ActivationKind.Quadratic => "quadratic",
        _ => "identity",
    };
}
