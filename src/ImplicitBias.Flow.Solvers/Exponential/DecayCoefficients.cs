namespace ImplicitBias.Flow.Solvers.Exponential;

/// <summary>
/// The per-block scalars of an exponential Runge–Kutta step with the decays −c_b as its linear part, in the layout
/// <see cref="Core.State.IStateAlgebra{TState}.Combine"/> takes with perBlock true: e^{c z_b} into scale[b] and
/// h a_j(z_b) into rows[b · width + j], z_b = −c_b h. Shared by the decay-only stepper and the one whose linear part
/// adds a low-rank operator (which combines with these scalars first and corrects inside its span).
/// </summary>
internal static class DecayCoefficients
{
    /// <summary>Stage <paramref name="stage"/>: e^{c_i z_b} y0 + h Σ_{j&lt;i} a_ij(z_b) N_j (width i).</summary>
    public static void Stage(ExponentialRungeKuttaMethod method, ReadOnlySpan<double> decay, int stage, double h, Span<double> scale, Span<double> rows)
    {
        double c = method.Nodes[stage];
        for (int b = 0; b < decay.Length; b++)
        {
            double z = -decay[b] * h;
            scale[b] = Math.Exp(c * z);
            Span<double> row = rows.Slice(b * stage, stage);
            method.StageCoefficients(stage, z, row);
            for (int j = 0; j < stage; j++)
            {
                row[j] *= h;
            }
        }
    }

    /// <summary>
    /// The continuous solution at θ (θ = 1: the step), e^{θ z_b} y0 + h Σ b_j(θ, z_b) N_j (width s); with
    /// <paramref name="error"/> the error estimate h Σ (b_j − b̂_j)(z_b) N_j instead (θ = 1, scale 0).
    /// </summary>
    public static void Weights(ExponentialRungeKuttaMethod method, ReadOnlySpan<double> decay, double theta, double h, bool error, Span<double> scale, Span<double> rows, Span<double> weights, Span<double> embedded)
    {
        int s = method.Stages;
        for (int b = 0; b < decay.Length; b++)
        {
            double z = -decay[b] * h;
            scale[b] = error ? 0.0 : Math.Exp(theta * z);
            method.Weights(theta, z, weights, error || theta == 1.0 ? embedded : []);
            for (int j = 0; j < s; j++)
            {
                rows[(b * s) + j] = error ? h * (weights[j] - embedded[j]) : h * weights[j];
            }
        }
    }

    /// <summary>
    /// The history error estimate h Σ (b − b̂) over [N(t − r h), N_1 … N_s] (width s + 1, scale 0) with the embedded
    /// rule of <see cref="ExponentialRungeKuttaMethod.HistoryEmbeddedWeights"/>, r = h_previous / h.
    /// </summary>
    public static void HistoryError(ExponentialRungeKuttaMethod method, ReadOnlySpan<double> decay, double ratio, double h, Span<double> scale, Span<double> rows, Span<double> weights, Span<double> historyEmbedded)
    {
        int s = method.Stages;
        for (int b = 0; b < decay.Length; b++)
        {
            double z = -decay[b] * h;
            scale[b] = 0.0;
            method.Weights(1.0, z, weights, []);
            method.HistoryEmbeddedWeights(ratio, z, historyEmbedded);
            int row = b * (s + 1);
            rows[row] = -h * historyEmbedded[0];
            for (int j = 0; j < s; j++)
            {
                rows[row + j + 1] = h * (weights[j] - historyEmbedded[j + 1]);
            }
        }
    }
}
