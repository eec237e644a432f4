namespace ImplicitBias.Flow.Solvers.ReferenceProblems;

/// <summary>The reference problems of docs/reference-problems.md.</summary>
public static class ReferenceProblemSet
{
    private const double ArenstorfMu = 0.012277471;
    private const double ArenstorfPeriod = 17.0652165601579625588917206249;
    private const double StiffRate = 1e4;
    private static readonly double[] ArenstorfStart = [0.994, 0.0, 0.0, -2.00158510637908252240537862224];
    private static readonly double[] Eccentricities = [0.1, 0.3, 0.5, 0.7, 0.9];

    /// <summary>All problem names, in CLI order.</summary>
    public static IReadOnlyList<string> Names { get; } =
        ["arenstorf", "pleiades", "stiff-decay", "detest-a1", "detest-a2", "detest-a3", "detest-a4", "detest-d1", "detest-d2", "detest-d3", "detest-d4", "detest-d5"];

    /// <summary>The problem named <paramref name="name"/>.</summary>
    public static ReferenceProblem Get(string name) => name switch
    {
        "arenstorf" => Arenstorf(),
        "pleiades" => Pleiades(),
        "stiff-decay" => StiffDecay(),
        "detest-a1" => new(name, (t, y, f) => f[0] = -y[0], 0, 20, [1.0], [Math.Exp(-20.0)]),
        "detest-a2" => new(name, (t, y, f) => f[0] = -y[0] * y[0] * y[0] / 2, 0, 20, [1.0], [1.0 / Math.Sqrt(21.0)]),
        "detest-a3" => new(name, (t, y, f) => f[0] = y[0] * Math.Cos(t), 0, 20, [1.0], [Math.Exp(Math.Sin(20.0))]),
        "detest-a4" => new(name, (t, y, f) => f[0] = y[0] * (20 - y[0]) / 80, 0, 20, [1.0], [20 / (1 + (19 * Math.Exp(-5.0)))]),
        _ when name.StartsWith("detest-d", StringComparison.Ordinal) && name.Length == 9 && name[8] is >= '1' and <= '5' => Kepler(name, Eccentricities[name[8] - '1']),
        _ => throw new ArgumentException($"Unknown reference problem '{name}'.", nameof(name)),
    };

    /// <summary>Arenstorf orbit over one period (Hairer I, §II.0); the reference is the initial state.</summary>
    public static ReferenceProblem Arenstorf() => new(
        "arenstorf",
        (t, y, f) =>
        {
            const double mu = ArenstorfMu;
            const double muPrime = 1 - ArenstorfMu;
            double r1 = ((y[0] + mu) * (y[0] + mu)) + (y[1] * y[1]);
            double r2 = ((y[0] - muPrime) * (y[0] - muPrime)) + (y[1] * y[1]);
            double d1 = r1 * Math.Sqrt(r1);
            double d2 = r2 * Math.Sqrt(r2);
            f[0] = y[2];
            f[1] = y[3];
            f[2] = y[0] + (2 * y[3]) - (muPrime * (y[0] + mu) / d1) - (mu * (y[0] - muPrime) / d2);
            f[3] = y[1] - (2 * y[2]) - (muPrime * y[1] / d1) - (mu * y[1] / d2);
        },
        0,
        ArenstorfPeriod,
        ArenstorfStart,
        ArenstorfStart);

    /// <summary>Pleiades (Hairer I, §II.10): state (x1..7, y1..7, x'1..7, y'1..7); positions compared at t = 3.</summary>
    public static ReferenceProblem Pleiades() => new(
        "pleiades",
        (t, s, f) =>
        {
            for (int i = 0; i < 14; i++)
            {
                f[i] = s[14 + i];
            }

            for (int i = 0; i < 7; i++)
            {
                double ax = 0.0;
                double ay = 0.0;
                for (int j = 0; j < 7; j++)
                {
                    if (j == i)
                    {
                        continue;
                    }

                    double dx = s[j] - s[i];
                    double dy = s[7 + j] - s[7 + i];
                    double r2 = (dx * dx) + (dy * dy);
                    double r3 = r2 * Math.Sqrt(r2);
                    ax += (j + 1) * dx / r3;
                    ay += (j + 1) * dy / r3;
                }

                f[14 + i] = ax;
                f[21 + i] = ay;
            }
        },
        0,
        3,
        [3, 3, -1, -3, 2, -2, 2, 3, -3, 2, 0, 0, -4, 4, 0, 0, 0, 0, 0, 1.75, -1.5, 0, 0, 0, -1.25, 1, 0, 0],
        [
            0.3706139143970502, 3.237284092057233, -3.222559032418324, 0.6597091455775310, 0.3425581707156584, 1.562172101400631, -0.7003092922212495,
            -3.943437585517392, -3.271380973972550, 5.225081843456543, -2.590612434977470, 1.198213693392275, -0.2429682344935824, 1.091449240428980,
        ],
        Enumerable.Range(0, 14).ToArray());

    /// <summary>y' = −c (y − cos t), c = 1e4, written as N = c cos t with decay c, on [0, 20].</summary>
    public static ReferenceProblem StiffDecay()
    {
        const double c = StiffRate;
        const double t1 = 20.0;
        double exact = ((c * c * Math.Cos(t1)) + (c * Math.Sin(t1)) - (c * c * Math.Exp(-c * t1))) / ((c * c) + 1);
        return new("stiff-decay", (t, y, f) => f[0] = c * Math.Cos(t), 0, t1, [0.0], [exact], null, c);
    }

    /// <summary>DETEST D1–D5: a Kepler orbit of eccentricity e, exact via Kepler's equation solved by Newton.</summary>
    public static ReferenceProblem Kepler(string name, double e)
    {
        const double t1 = 20.0;
        return new(
            name,
            (t, y, f) =>
            {
                double r2 = (y[0] * y[0]) + (y[1] * y[1]);
                double r3 = r2 * Math.Sqrt(r2);
                f[0] = y[2];
                f[1] = y[3];
                f[2] = -y[0] / r3;
                f[3] = -y[1] / r3;
            },
            0,
            t1,
            [1 - e, 0, 0, Math.Sqrt((1 + e) / (1 - e))],
            KeplerExact(e, t1));
    }

    /// <summary>Exact Kepler state at t: u − e sin u = t by Newton, then positions and velocities.</summary>
    public static double[] KeplerExact(double e, double t)
    {
        double u = t;
        for (int i = 0; i < 100; i++)
        {
            double du = (u - (e * Math.Sin(u)) - t) / (1 - (e * Math.Cos(u)));
            u -= du;
            if (Math.Abs(du) < 1e-16 * Math.Max(1.0, Math.Abs(u)))
            {
                break;
            }
        }

        double udot = 1 / (1 - (e * Math.Cos(u)));
        double s = Math.Sqrt(1 - (e * e));
        return [Math.Cos(u) - e, s * Math.Sin(u), -Math.Sin(u) * udot, s * Math.Cos(u) * udot];
    }
}
