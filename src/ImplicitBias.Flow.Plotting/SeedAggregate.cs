using MathNet.Numerics.Distributions;

namespace ImplicitBias.Flow.Plotting;

/// <summary>One run's curve: y sampled at x (x strictly monotone, increasing or decreasing).</summary>
/// <param name="X">Sample positions, strictly increasing or strictly decreasing (e.g. a falling loss).</param>
/// <param name="Y">Values at <paramref name="X"/>.</param>
public sealed record SampledSeries(IReadOnlyList<double> X, IReadOnlyList<double> Y);

/// <summary>Mean and two-sided confidence band of several runs on a common grid.</summary>
/// <param name="X">The common grid.</param>
/// <param name="Mean">Mean over the runs covering each grid point (NaN where none does).</param>
/// <param name="Lower">Lower band edge (NaN where fewer than two runs cover the point).</param>
/// <param name="Upper">Upper band edge (NaN where fewer than two runs cover the point).</param>
/// <param name="Count">How many runs covered each grid point.</param>
public sealed record AggregatedSeries(
    IReadOnlyList<double> X,
    IReadOnlyList<double> Mean,
    IReadOnlyList<double> Lower,
    IReadOnlyList<double> Upper,
    IReadOnlyList<int> Count)
{
    /// <summary>Turns the aggregate into a line with its band, ready for a <see cref="FigureSpec"/>.</summary>
    /// <param name="name">Legend entry.</param>
    /// <returns>The series.</returns>
    public LineSeries ToLineSeries(string name) => new(name, X, Mean) { Lower = Lower, Upper = Upper };
}

/// <summary>
/// Aggregates runs with different seeds: each run is linearly interpolated onto a common grid and, per grid
/// point, the mean and the Student-t confidence interval mean ± t(1−α/2, n−1)·s/√n are computed, with s the
/// sample standard deviation (n−1 denominator). Runs never extrapolate: a grid point outside a run's x range
/// gets no contribution from that run.
/// </summary>
public static class SeedAggregate
{
    /// <summary>
    /// A grid of <paramref name="points"/> values spanning the x range that ALL runs cover (so every point has
    /// every seed), linearly or geometrically spaced, in increasing order.
    /// </summary>
    /// <param name="runs">The runs.</param>
    /// <param name="points">Number of grid points, at least 2.</param>
    /// <param name="logSpaced">Space points evenly in log10 x (for log axes); the range must then be positive.</param>
    /// <returns>The grid.</returns>
    /// <exception cref="ArgumentException">The runs' x ranges do not overlap.</exception>
    public static double[] CommonGrid(IReadOnlyList<SampledSeries> runs, int points, bool logSpaced = false)
    {
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentOutOfRangeException.ThrowIfLessThan(points, 2);
        if (runs.Count == 0)
        {
            throw new ArgumentException("At least one run is needed.", nameof(runs));
        }

        double lo = double.NegativeInfinity, hi = double.PositiveInfinity;
        foreach (SampledSeries run in runs)
        {
            Validate(run);
            lo = Math.Max(lo, Math.Min(run.X[0], run.X[^1]));
            hi = Math.Min(hi, Math.Max(run.X[0], run.X[^1]));
        }

        if (!(lo < hi))
        {
            throw new ArgumentException($"The runs' x ranges do not overlap (common range [{lo}, {hi}]).", nameof(runs));
        }

        if (logSpaced && lo <= 0)
        {
            throw new ArgumentException($"A log-spaced grid needs positive x, but the common range starts at {lo}.", nameof(runs));
        }

        var grid = new double[points];
        for (int i = 0; i < points; i++)
        {
            double f = (double)i / (points - 1);
            grid[i] = logSpaced ? Math.Exp(Math.Log(lo) + (f * (Math.Log(hi) - Math.Log(lo)))) : lo + (f * (hi - lo));
        }

        // Pin the ends exactly: rounding in exp/log must not push them outside a run's range.
        grid[0] = lo;
        grid[^1] = hi;
        return grid;
    }

    /// <summary>Interpolates every run onto <paramref name="grid"/> and computes mean and confidence band.</summary>
    /// <param name="runs">The runs (seeds).</param>
    /// <param name="grid">Where to evaluate.</param>
    /// <param name="confidence">Two-sided confidence level, 0.95 for a 95% band.</param>
    /// <param name="interpolateInLogX">Interpolate linearly in log x (straight segments on a log x axis); x must be positive.</param>
    /// <returns>The aggregate.</returns>
    public static AggregatedSeries Aggregate(
        IReadOnlyList<SampledSeries> runs, IReadOnlyList<double> grid, double confidence = 0.95, bool interpolateInLogX = false)
    {
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentNullException.ThrowIfNull(grid);
        if (!(confidence > 0 && confidence < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(confidence), confidence, "Confidence must lie in (0, 1).");
        }

        int m = grid.Count;
        var mean = new double[m];
        var lower = new double[m];
        var upper = new double[m];
        var count = new int[m];
        var samples = new List<double>(runs.Count);
        foreach (SampledSeries run in runs)
        {
            Validate(run);
        }

        for (int j = 0; j < m; j++)
        {
            samples.Clear();
            foreach (SampledSeries run in runs)
            {
                double v = Interpolate(run, grid[j], interpolateInLogX);
                if (!double.IsNaN(v))
                {
                    samples.Add(v);
                }
            }

            int n = samples.Count;
            count[j] = n;
            if (n == 0)
            {
                mean[j] = lower[j] = upper[j] = double.NaN;
                continue;
            }

            double mu = samples.Average();
            mean[j] = mu;
            if (n == 1)
            {
                // One run says nothing about spread; an honest band is "unknown", drawn as a gap.
                lower[j] = upper[j] = double.NaN;
                continue;
            }

            double ss = 0;
            foreach (double v in samples)
            {
                ss += (v - mu) * (v - mu);
            }

            double s = Math.Sqrt(ss / (n - 1));
            double half = TQuantile(confidence, n - 1) * s / Math.Sqrt(n);
            lower[j] = mu - half;
            upper[j] = mu + half;
        }

        return new AggregatedSeries([.. grid], mean, lower, upper, count);
    }

    /// <summary>The two-sided Student-t critical value t(1 − (1 − confidence)/2, dof).</summary>
    /// <param name="confidence">Two-sided confidence level.</param>
    /// <param name="degreesOfFreedom">Degrees of freedom (n − 1).</param>
    /// <returns>The quantile.</returns>
    public static double TQuantile(double confidence, int degreesOfFreedom)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(degreesOfFreedom, 1);
        return StudentT.InvCDF(0, 1, degreesOfFreedom, 1 - ((1 - confidence) / 2));
    }

    /// <summary>
    /// Linear interpolation of a run at <paramref name="x"/>; NaN outside the run's x range (no extrapolation).
    /// </summary>
    /// <param name="run">The run.</param>
    /// <param name="x">Where to evaluate.</param>
    /// <param name="inLogX">Interpolate in log x.</param>
    /// <returns>The interpolated value or NaN.</returns>
    public static double Interpolate(SampledSeries run, double x, bool inLogX = false)
    {
        ArgumentNullException.ThrowIfNull(run);
        IReadOnlyList<double> xs = run.X, ys = run.Y;
        int n = xs.Count;
        bool increasing = n < 2 || xs[1] > xs[0];
        double lo = increasing ? xs[0] : xs[^1], hi = increasing ? xs[^1] : xs[0];
        if (double.IsNaN(x) || x < lo || x > hi)
        {
            return double.NaN;
        }

        if (n == 1)
        {
            return ys[0];
        }

        // Binary search for the segment [k, k+1] containing x in the run's own order.
        int a = 0, b = n - 1;
        while (b - a > 1)
        {
            int mid = (a + b) >>> 1;
            if ((xs[mid] <= x) == increasing)
            {
                a = mid;
            }
            else
            {
                b = mid;
            }
        }

        double x0 = xs[a], x1 = xs[b];
        if (x == x0)
        {
            return ys[a];
        }

        if (x == x1)
        {
            return ys[b];
        }

        double t = inLogX ? (Math.Log(x) - Math.Log(x0)) / (Math.Log(x1) - Math.Log(x0)) : (x - x0) / (x1 - x0);
        return ys[a] + (t * (ys[b] - ys[a]));
    }

    private static void Validate(SampledSeries run)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (run.X.Count != run.Y.Count || run.X.Count == 0)
        {
            throw new ArgumentException($"A run needs equally many x and y values, at least one ({run.X.Count} vs {run.Y.Count}).");
        }

        if (run.X.Count >= 2)
        {
            bool increasing = run.X[1] > run.X[0];
            for (int i = 1; i < run.X.Count; i++)
            {
                if (!(increasing ? run.X[i] > run.X[i - 1] : run.X[i] < run.X[i - 1]))
                {
                    throw new ArgumentException($"A run's x must be strictly monotone; it breaks at index {i}.");
                }
            }
        }
    }
}
