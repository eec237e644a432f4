using ImplicitBias.Flow.Core.Numerics;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Flows.Schedules;

namespace ImplicitBias.Flow.Cli.Tests.Fixtures;

/// <summary>
/// An optimizer the program does not ship, added the way a new one is: one definition, registered. The RMSProp flow
/// dθ/dt = −η g/(√v̂ + ε), dv/dt = c2 (g² − v), v̂ = v/(1 − e^{−c2 t}) (Adam's second moment with its bias
/// correction, and no momentum); its discrete form is θ_n = θ_{n−1} − h η g_n/(√v̂_n + ε) with
/// v_n = β2 v_{n−1} + (1 − β2) g_n², v̂_n = v_n/(1 − β2ⁿ), from the same direction.
/// </summary>
public static class RmsProp
{
    /// <summary>The definition of 'rmsprop'.</summary>
    public static OptimizerDefinition Definition { get; } = new()
    {
        Name = "rmsprop",
        Summary = "RMSProp flow: dθ/dt = −η g/(√v̂ + ε), v Adam's second moment with its bias correction (a test fixture).",
        Source = UpdateSource.Gradient,
        Geometry = UpdateGeometry.Defined,
        Direction = new Direction(),
        Moments = FlowMoments.Second,
        OwnNorm = OwnNormKind.LInf,
        Family = OptimizerFamily.GradientFlow, // the paper has no theorem for it: only the common predictions
        Schedule = ScheduleAssumption.Adam,
        DefaultEta0 = 5e-3,
        DefaultMethod = "dopri5",
    };

    /// <summary>Registers the definition (idempotent).</summary>
    public static void Register() => OptimizerRegistry.Register(Definition);

    private sealed class Direction : IDefinedDirection
    {
        public void Write(in DirectionInputs x, Span<double> d)
        {
            ReadOnlySpan<double> gradient = x.RelativeGradient, v = x.SecondMoment;
            if (!x.Discrete && x.Time <= 0)
            {
                // t → 0⁺: v ≈ c2 t g², so v̂ → g² and the direction → sign(g) (as Adam's).
                for (int i = 0; i < d.Length; i++)
                {
                    d[i] = Math.Sign(gradient[i]);
                }

                return;
            }

            // g/(√v̂ + ε) = e^{ℓ − λ_v/2} ∇log L / (√(ṽ/b2) + ε e^{−λ_v/2}), b2 = 1 − e^{−c2 t}; when ε e^{−λ_v/2} is
            // beyond 1 both terms are divided by it, so nothing overflows however small L is.
            double bias2 = -ScalarMath.ExpM1(-x.Part.C2 * x.Time);
            double half = 0.5 * x.SecondMomentLogScale;
            double logEpsilon = x.Part.Epsilon > 0 ? Math.Log(x.Part.Epsilon) - half : double.NegativeInfinity;
            double shift = Math.Max(0, logEpsilon);
            double epsilon = Math.Exp(logEpsilon - shift);
            double vFactor = Math.Exp(-2 * shift) / bias2;
            double outer = Math.Exp(Math.Min(x.LogLoss - half - shift, 709));
            for (int i = 0; i < d.Length; i++)
            {
                double denominator = Math.Sqrt(Math.Max(v[i], 0) * vFactor) + epsilon;
                d[i] = denominator > 0 ? outer * gradient[i] / denominator : 0;
            }
        }
    }
}
