namespace ImplicitBias.Flow.Solvers.Controllers;

/// <summary>Hairer's starting step size (Solving ODEs I, §II.4, algorithm on p. 169).</summary>
public static class HairerInitialStep
{
    /// <summary>h0 from ‖y0‖, ‖f0‖ and a second-derivative estimate, capped at <paramref name="maxStep"/>.</summary>
    public static double Propose(IInitialStepProbe probe, double maxStep)
    {
        ArgumentNullException.ThrowIfNull(probe);
        double d0 = probe.StateNorm();
        double d1 = probe.DerivativeNorm();
        double h0 = d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : 0.01 * d0 / d1;
        h0 = Math.Min(h0, maxStep);
        double d2 = probe.DerivativeChangeNorm(h0) / h0;
        double d = Math.Max(d1, d2);
        double h1 = !(d > 1e-15) ? Math.Max(1e-6, h0 * 1e-3) : Math.Pow(0.01 / d, 1.0 / probe.Order);
        double h = Math.Min(100 * h0, h1);
        return double.IsFinite(h) && h > 0 ? Math.Min(h, maxStep) : Math.Min(1e-6, maxStep);
    }
}
