using ImplicitBias.Flow.Core.Numerics;

namespace ImplicitBias.Flow.Flows.Schedules;

/// <summary>A learning-rate schedule η(t) &gt; 0 of the flows (paper Sec. 2.3).</summary>
public abstract class Schedule
{
    /// <summary>η(t).</summary>
    public abstract double Eta(double t);

    /// <summary>∫₀ᵗ η(s) ds, in closed form.</summary>
    public abstract double Integral(double t);

    /// <summary>η′(t)/η(t), the logarithmic derivative of the schedule.</summary>
    public abstract double RelativeRate(double t);

    /// <summary>The decay exponent a of η ~ t^{−a} as t → ∞ (0 for a constant schedule).</summary>
    public abstract double Power { get; }

    /// <summary>True when η never increases.</summary>
    public virtual bool IsNonIncreasing => Power >= 0;
}

/// <summary>
/// The power law η(t) = η0 (t + t_off)^{−a} (docs/mathematics.md §3); a = 0 is the constant schedule and t_off = 1 gives η(0) = η0.
/// </summary>
public sealed class PowerLawSchedule : Schedule
{
    /// <summary>Creates the schedule; η0 &gt; 0, t_off &gt; 0, a finite.</summary>
    public PowerLawSchedule(double eta0, double power, double timeOffset = 1.0)
    {
        if (!(eta0 > 0) || double.IsInfinity(eta0))
        {
            throw new ArgumentOutOfRangeException(nameof(eta0), eta0, "η0 must be positive and finite.");
        }

        if (!double.IsFinite(power))
        {
            throw new ArgumentOutOfRangeException(nameof(power), power, "The power must be finite.");
        }

        if (!(timeOffset > 0) || double.IsInfinity(timeOffset))
        {
            throw new ArgumentOutOfRangeException(nameof(timeOffset), timeOffset, "The time offset must be positive and finite.");
        }

        Eta0 = eta0;
        Power = power;
        TimeOffset = timeOffset;
    }

    /// <summary>A constant schedule η(t) = η0.</summary>
    public static PowerLawSchedule Constant(double eta0) => new(eta0, 0.0);

    /// <summary>η0.</summary>
    public double Eta0 { get; }

    /// <inheritdoc/>
    public override double Power { get; }

    /// <summary>t_off.</summary>
    public double TimeOffset { get; }

    /// <inheritdoc/>
    public override double Eta(double t) => Power == 0 ? Eta0 : Eta0 * Math.Pow(t + TimeOffset, -Power);

    /// <inheritdoc/>
    public override double RelativeRate(double t) => Power == 0 ? 0.0 : -Power / (t + TimeOffset);

    /// <inheritdoc/>
    public override double Integral(double t)
    {
        if (Power == 0)
        {
            return Eta0 * t;
        }

        if (Power == 1)
        {
            // η0 log((t + t_off)/t_off), via log1p for small t.
            return Eta0 * ScalarMath.Log1P(t / TimeOffset);
        }

        // η0 ((t + t_off)^{1−a} − t_off^{1−a})/(1 − a), written as t_off^{1−a}·expm1((1−a) log1p(t/t_off))/(1−a)
        // so that small t loses no digits to cancellation.
        double p = 1 - Power;
        return Eta0 * Math.Pow(TimeOffset, p) * ScalarMath.ExpM1(p * ScalarMath.Log1P(t / TimeOffset)) / p;
    }
}
