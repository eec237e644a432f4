using ImplicitBias.Flow.Flows.Discrete;

namespace ImplicitBias.Flow.Experiments.Comparison;

/// <summary>The discrete run with one time step h against the flow, at every t_n = n h from 0 to T.</summary>
/// <param name="H">The time step h.</param>
/// <param name="Steps">N = T/h, the number of discrete steps.</param>
/// <param name="Time">t_n = n h, n = 0..N.</param>
/// <param name="RelativeDistance">‖θ_n − θ(t_n)‖₂ / ‖θ(t_n)‖₂.</param>
/// <param name="Cosine">⟨θ_n, θ(t_n)⟩ / (‖θ_n‖₂ ‖θ(t_n)‖₂).</param>
/// <param name="LogLossDiscrete">log L(θ_n).</param>
/// <param name="LogLossFlow">log L(θ(t_n)).</param>
/// <param name="MarginDiscrete">ℓ2 hard margin q_min(θ_n) / ‖θ_n‖₂^L.</param>
/// <param name="MarginFlow">ℓ2 hard margin q_min(θ(t_n)) / ‖θ(t_n)‖₂^L.</param>
public sealed record ComparisonTrace(
    double H,
    long Steps,
    double[] Time,
    double[] RelativeDistance,
    double[] Cosine,
    double[] LogLossDiscrete,
    double[] LogLossFlow,
    double[] MarginDiscrete,
    double[] MarginFlow);

/// <summary>One line of the comparison table: the discrete run with step h against the flow at T.</summary>
/// <param name="H">The time step h.</param>
/// <param name="Steps">N = T/h.</param>
/// <param name="Error">‖θ_N − θ(T)‖₂ / ‖θ(T)‖₂.</param>
/// <param name="Cosine">Cosine between θ_N and θ(T).</param>
/// <param name="LogLossDiscrete">log L(θ_N).</param>
/// <param name="LogLossFlow">log L(θ(T)).</param>
public sealed record ComparisonRow(double H, long Steps, double Error, double Cosine, double LogLossDiscrete, double LogLossFlow);

/// <summary>What the practical Newton–Schulz orthogonalization changes against the exact U Vᵀ (Muon, SpectralGD).</summary>
/// <param name="OneUpdate">‖NS(S) − U Vᵀ‖_F / ‖U Vᵀ‖_F over the polar blocks for the first step's source S (∝ g(θ_0)).</param>
/// <param name="MinSingularValue">The smallest singular value NS gives the first step's matrices (ideally 1).</param>
/// <param name="MaxSingularValue">The largest singular value NS gives them (ideally 1).</param>
/// <param name="H">The (finest) time step at which both discrete runs were made.</param>
/// <param name="Trajectory">‖θ_NS(T) − θ_exact(T)‖₂ / ‖θ_exact(T)‖₂ of the two discrete runs.</param>
/// <param name="ErrorNewtonSchulz">The Newton–Schulz run's ‖θ_N − θ(T)‖₂ / ‖θ(T)‖₂ against the flow.</param>
/// <param name="ErrorExact">The exact run's ‖θ_N − θ(T)‖₂ / ‖θ(T)‖₂ against the flow.</param>
public sealed record NewtonSchulzReport(double OneUpdate, double MinSingularValue, double MaxSingularValue, double H, double Trajectory, double ErrorNewtonSchulz, double ErrorExact);

/// <summary>The reference flow of a comparison: where it was saved and what it cost.</summary>
/// <param name="Method">The ODE stepper.</param>
/// <param name="RelTol">Its relative tolerance.</param>
/// <param name="AcceptedSteps">Accepted steps.</param>
/// <param name="RejectedSteps">Rejected steps.</param>
/// <param name="Evaluations">Right-hand side evaluations.</param>
/// <param name="Time">The save times: the union of all t_n grids.</param>
/// <param name="LogLoss">log L(θ(t)) at the save times.</param>
/// <param name="Margin">ℓ2 hard margin q_min(θ(t)) / ‖θ(t)‖₂^L at the save times.</param>
public sealed record FlowReference(string Method, double RelTol, long AcceptedSteps, long RejectedSteps, long Evaluations, double[] Time, double[] LogLoss, double[] Margin);

/// <summary>The outcome of <see cref="DiscretizationComparison.Run"/>.</summary>
/// <param name="Name">The experiment's name.</param>
/// <param name="Optimizer">The compared optimizer's label.</param>
/// <param name="Seed">The seed of θ_0.</param>
/// <param name="Time">The comparison time T.</param>
/// <param name="Polar">The polar method of the discrete runs in <paramref name="Rows"/>.</param>
/// <param name="Rows">One row per h, coarsest first.</param>
/// <param name="Traces">One trace per h, coarsest first.</param>
/// <param name="Order">
/// Least-squares slope of log error at T against log h over the asymptotic range (the rows from
/// <see cref="AsymptoticStart"/> on); NaN when no range was found.
/// </param>
/// <param name="Flow">The reference flow.</param>
/// <param name="NewtonSchulz">The Newton–Schulz vs exact report, for optimizers with polar parts; else null.</param>
public sealed record ComparisonResult(
    string Name,
    string Optimizer,
    ulong Seed,
    double Time,
    PolarMethod Polar,
    IReadOnlyList<ComparisonRow> Rows,
    IReadOnlyList<ComparisonTrace> Traces,
    double Order,
    FlowReference Flow,
    NewtonSchulzReport? NewtonSchulz)
{
    /// <summary>Index in <see cref="Rows"/> of the coarsest h of the asymptotic range; null when the orders never agreed.</summary>
    public int? AsymptoticStart { get; init; }

    /// <summary>The step sizes that were added by halving because the orders did not yet agree (finest last).</summary>
    public IReadOnlyList<double> RefinedSteps { get; init; } = [];

    /// <summary>Why refining stopped short of an asymptotic range (budget spent); null when it was not needed or succeeded.</summary>
    public string? RefinementLimit { get; init; }

    /// <summary>The observed order between each row and the previous (coarser) one; NaN for the first row.</summary>
    public IReadOnlyList<double> ObservedOrders => DiscretizationComparison.ObservedOrders(Rows);

    /// <summary>The coarsest h from which on the errors fall at one order (NaN when none was found).</summary>
    public double AsymptoticFrom => AsymptoticStart is int k ? Rows[k].H : double.NaN;
}
