using ImplicitBias.Flow.Core.Parameters;

namespace ImplicitBias.Flow.Flows.Tests;

/// <summary>
/// A small exact oracle for vector-field tests: a two-layer network f(x) = Σ_j u_j σ(⟨w_j, x⟩) with
/// σ = ReLU² (or the linear predictor f = ⟨θ, x⟩ when width is 0), exponential loss, log L by log-sum-exp.
/// </summary>
internal sealed class SmallNetworkOracle : IGradientOracle
{
    private readonly double[][] _x;
    private readonly double[] _y;
    private readonly int _width;
    private readonly double[] _z;

    public SmallNetworkOracle(double[][] x, double[] y, int width)
    {
        _x = x;
        _y = y;
        _width = width;
        _z = new double[y.Length];
        Layout = ParameterLayout.FullyConnected(x[0].Length, width == 0 ? [] : [width]);
    }

    public ParameterLayout Layout { get; }

    public int Evaluations { get; private set; }

    public static SmallNetworkOracle Random(int samples, int dimension, int width, int seed)
    {
        var rng = new Random(seed);
        var x = new double[samples][];
        var y = new double[samples];
        for (int i = 0; i < samples; i++)
        {
            x[i] = Enumerable.Range(0, dimension).Select(_ => (rng.NextDouble() * 2) - 1).ToArray();
            y[i] = rng.NextDouble() < 0.5 ? -1 : 1;
        }

        return new SmallNetworkOracle(x, y, width);
    }

    public double Output(ReadOnlySpan<double> theta, double[] x)
    {
        int d = x.Length;
        if (_width == 0)
        {
            double s = 0;
            for (int k = 0; k < d; k++)
            {
                s += theta[k] * x[k];
            }

            return s;
        }

        double f = 0;
        for (int j = 0; j < _width; j++)
        {
            double a = 0;
            for (int k = 0; k < d; k++)
            {
                a += theta[(j * d) + k] * x[k];
            }

            f += theta[(_width * d) + j] * (a > 0 ? a * a : 0);
        }

        return f;
    }

    public double Evaluate(ReadOnlySpan<double> theta, Span<double> relativeGradient)
    {
        Evaluations++;
        int m = _y.Length, d = _x[0].Length;
        double max = double.NegativeInfinity;
        for (int i = 0; i < m; i++)
        {
            _z[i] = -_y[i] * Output(theta, _x[i]);
            max = Math.Max(max, _z[i]);
        }

        double sum = 0;
        for (int i = 0; i < m; i++)
        {
            sum += Math.Exp(_z[i] - max);
        }

        double logL = max + Math.Log(sum);
        relativeGradient.Clear();
        for (int i = 0; i < m; i++)
        {
            // ∂ log L/∂θ = Σ_i (ℓ_i / L) · (−y_i) ∇f(x_i).
            double w = -_y[i] * Math.Exp(_z[i] - logL);
            double[] x = _x[i];
            if (_width == 0)
            {
                for (int k = 0; k < d; k++)
                {
                    relativeGradient[k] += w * x[k];
                }

                continue;
            }

            for (int j = 0; j < _width; j++)
            {
                double a = 0;
                for (int k = 0; k < d; k++)
                {
                    a += theta[(j * d) + k] * x[k];
                }

                if (a <= 0)
                {
                    continue;
                }

                double u = theta[(_width * d) + j];
                relativeGradient[(_width * d) + j] += w * a * a;
                for (int k = 0; k < d; k++)
                {
                    relativeGradient[(j * d) + k] += w * u * 2 * a * x[k];
                }
            }
        }

        return logL;
    }
}
