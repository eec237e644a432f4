namespace ImplicitBias.Flow.Solvers.Rosenbrock;

/// <summary>
/// ROS34PW2 (Rang &amp; Angermann, "New Rosenbrock W-methods of order 3 for partial differential algebraic equations
/// of index 1", BIT 45 (2005) 761–787, Table 4.1): four stages, a W-method of order 3 with an embedded W-method of
/// order 2, stiffly accurate and L-stable (R(∞) = 0; the embedded |R̂(∞)| ≈ 0.48), γ = 0.435866521508459 (the
/// L-stable SDIRK3 γ). Coefficients with their published digits. With the Krylov W of
/// <see cref="RosenbrockWMethod"/> the oscillating θ–m̃ modes of the Adam flow and the moment decays are implicit.
/// </summary>
public sealed class Ros34Pw2 : RosenbrockWMethod
{
    private const double G = 0.435866521508459;

    /// <inheritdoc />
    public override string Name => "ros34pw2";

    /// <inheritdoc />
    public override int Order => 3;

    /// <inheritdoc />
    public override int ErrorExponentOrder => 3;

    /// <inheritdoc />
    public override int Stages => 4;

    /// <inheritdoc />
    public override double Gamma => G;

    /// <inheritdoc />
    public override double[,] Alpha { get; } = new double[,]
    {
        { 0, 0, 0, 0 },
        { 0.87173304301691801, 0, 0, 0 },
        { 0.84457060015369423, -0.11299064236484185, 0, 0 },
        { 0, 0, 1, 0 },
    };

    /// <inheritdoc />
    public override double[,] GammaMatrix { get; } = new double[,]
    {
        { G, 0, 0, 0 },
        { -0.87173304301691801, G, 0, 0 },
        { -0.90338057013044082, 0.054180672388095326, G, 0 },
        { 0.24212380706095346, -1.2232505839045147, 0.54526025533510214, G },
    };

    /// <inheritdoc />
    public override double[] Weights { get; } = [0.24212380706095346, -1.2232505839045147, 1.5452602553351020, G];

    /// <inheritdoc />
    public override double[] EmbeddedWeights { get; } = [0.37810903145819369, -0.096042292212423178, 0.5, 0.2179332607542295];
}
