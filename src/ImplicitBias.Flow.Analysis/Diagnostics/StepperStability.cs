using System.Numerics;
using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Analysis.Diagnostics;

/// <summary>
/// Where a stepper's stability region cuts off the linearized θ–m pair of a momentum flow: x′ = −y, y′ = −c1 y + c1 s x
/// (one eigen-direction of η P⁻¹∇²L with eigenvalue s; eigenvalues μ = −c1/2 ± √(c1²/4 − c1 s)), with y's decay c1 in
/// the layout, as the flows have it, so that an exponential stepper integrates it exactly and an explicit one does not.
/// One step of the real stepper (through <see cref="OdeSolver"/>) from each unit vector gives the 2 × 2 amplification
/// matrix; the step is stable while its spectral radius is at most 1.
/// </summary>
public static class StepperStability
{
    /// <summary>The spectral radius of one step of size <paramref name="h"/> on the θ–m pair.</summary>
    public static double AmplificationRadius(OdeMethod method, double c1, double s, double h)
    {
        ArgumentNullException.ThrowIfNull(method);
        var layout = new StateLayout([new StateBlock("theta", 1, 1, 1), new StateBlock("m", 1, 1, 1, 0, c1)]);
        var algebra = new HostStateAlgebra(layout);
        var term = new HostOdeTerm((_, y, dydt) =>
        {
            dydt[0] = -y[1];
            dydt[1] = c1 * s * y[0];
        });
        var columns = new double[2][];
        for (int k = 0; k < 2; k++)
        {
            var y0 = new HostState(2);
            y0.Values[k] = 1;
            OdeResult r = OdeSolver.Solve(term, algebra, method, 0, h, y0, new OdeOptions<HostState> { FixedStepCount = 1, SaveAt = SaveAt.Nothing });
            columns[k] = r.FinalState;
        }

        // Eigenvalues of [[a, b], [c, d]] from the trace and the determinant.
        double a = columns[0][0], c = columns[0][1], b = columns[1][0], d = columns[1][1];
        double trace = a + d, det = (a * d) - (b * c);
        Complex root = Complex.Sqrt(new Complex((trace * trace / 4) - det, 0));
        return Math.Max((trace / 2 + root).Magnitude, (trace / 2 - root).Magnitude);
    }

    /// <summary>The smallest step at which the pair becomes unstable (scanned upward by 1 %, then bisected), or ∞ below <paramref name="hMax"/>.</summary>
    public static double LargestStableStep(OdeMethod method, double c1, double s, double hMax = 1e6)
    {
        ArgumentNullException.ThrowIfNull(method);
        double omega = Math.Sqrt(Math.Abs(c1 * s)) + c1;
        double h = 1e-3 / omega, previous = 0;
        while (h < hMax)
        {
            double radius = AmplificationRadius(method, c1, s, h);
            if (!(radius <= 1 + 1e-12))
            {
                double lo = previous, hi = h;
                for (int i = 0; i < 40; i++)
                {
                    double mid = (lo + hi) / 2;
                    if (AmplificationRadius(method, c1, s, mid) <= 1 + 1e-12)
                    {
                        lo = mid;
                    }
                    else
                    {
                        hi = mid;
                    }
                }

                return lo;
            }

            previous = h;
            h *= 1.01;
        }

        return double.PositiveInfinity;
    }
}
