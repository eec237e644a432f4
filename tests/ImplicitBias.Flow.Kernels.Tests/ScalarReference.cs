namespace ImplicitBias.Flow.Kernels.Tests;

/// <summary>
/// An obviously correct scalar reference: per-sample loops for the forward pass, log-sum-exp for log L,
/// and per-sample back-propagation accumulated into the gradient. Written independently of the kernels.
/// </summary>
internal static class ScalarReference
{
    public static double Sigma(double z, NetworkSpec n) => n.Activation switch
    {
        ActivationKind.Relu => Math.Max(0.0, z),
        ActivationKind.ReluPower => z > 0 ? Math.Pow(z, n.Power) : 0.0,
        ActivationKind.Quadratic => z * z,
        _ => z,
    };

    public static double SigmaPrime(double z, NetworkSpec n) => n.Activation switch
    {
        ActivationKind.Relu => z > 0 ? 1.0 : 0.0,
        ActivationKind.ReluPower => z > 0 ? n.Power * Math.Pow(z, n.Power - 1) : 0.0,
        ActivationKind.Quadratic => 2 * z,
        _ => 1.0,
    };

    /// <summary>log(log(1 + e^{−z})) for the logistic loss, by cases.</summary>
    public static double LogLogistic(double z)
    {
        if (z <= 0)
        {
            return Math.Log(-z + Math.Log(1 + Math.Exp(z)));
        }

        double t = Math.Exp(-z);
        // log(1 + t)/t: Taylor series where 1 + t would round, the library log elsewhere.
        double ratio = t < 1e-3 ? 1 - (t / 2) + (t * t / 3) - (t * t * t / 4) + (t * t * t * t / 5) : Math.Log(1 + t) / t;
        return -z + Math.Log(ratio);
    }

    /// <summary>Returns log L; fills the relative gradient and the margins.</summary>
    public static double Evaluate(NetworkSpec n, double[] x, double[] y, double[] theta, double[] grad, double[] margins)
    {
        int m = y.Length;
        int h = n.HiddenWidths.Count;
        var widths = new int[h + 1];
        widths[0] = n.InputDimension;
        for (int l = 0; l < h; l++)
        {
            widths[l + 1] = n.HiddenWidths[l];
        }

        var offsets = new int[h + 2];
        for (int l = 1; l <= h; l++)
        {
            offsets[l] = offsets[l - 1] + (widths[l] * widths[l - 1]);
        }

        offsets[h + 1] = offsets[h] + widths[h];

        var pre = new double[m][][];
        var act = new double[m][][];
        var logLoss = new double[m];
        var logDeriv = new double[m];
        for (int i = 0; i < m; i++)
        {
            pre[i] = new double[h + 1][];
            act[i] = new double[h + 1][];
            act[i][0] = x.AsSpan(i * widths[0], widths[0]).ToArray();
            for (int l = 1; l <= h; l++)
            {
                pre[i][l] = new double[widths[l]];
                act[i][l] = new double[widths[l]];
                for (int j = 0; j < widths[l]; j++)
                {
                    double s = 0;
                    for (int k = 0; k < widths[l - 1]; k++)
                    {
                        s += theta[offsets[l - 1] + (j * widths[l - 1]) + k] * act[i][l - 1][k];
                    }

                    pre[i][l][j] = s;
                    act[i][l][j] = Sigma(s, n);
                }
            }

            double f = 0;
            for (int k = 0; k < widths[h]; k++)
            {
                f += theta[offsets[h] + k] * act[i][h][k];
            }

            double z = y[i] * f;
            margins[i] = z;
            if (n.Loss == LossKind.Exponential)
            {
                logLoss[i] = -z;
                logDeriv[i] = -z;
            }
            else
            {
                logLoss[i] = LogLogistic(z);
                logDeriv[i] = z > 0 ? -(z + Math.Log(1 + Math.Exp(-z))) : -Math.Log(1 + Math.Exp(z));
            }
        }

        double max = logLoss.Max();
        double sum = 0;
        for (int i = 0; i < m; i++)
        {
            sum += Math.Exp(logLoss[i] - max);
        }

        double logL = max + Math.Log(sum);
        Array.Clear(grad);
        for (int i = 0; i < m; i++)
        {
            // ∂ log L/∂f_i = ℓ'(z_i) y_i / L, ℓ' < 0.
            double dOut = -y[i] * Math.Exp(logDeriv[i] - logL);
            var delta = new double[] { dOut };
            int widthAbove = 1;
            for (int k = 0; k < widths[h]; k++)
            {
                grad[offsets[h] + k] += dOut * act[i][h][k];
            }

            for (int l = h; l >= 1; l--)
            {
                int aboveOffset = offsets[l];
                var next = new double[widths[l]];
                for (int k = 0; k < widths[l]; k++)
                {
                    double s = 0;
                    for (int j = 0; j < widthAbove; j++)
                    {
                        s += theta[aboveOffset + (j * widths[l]) + k] * delta[j];
                    }

                    next[k] = s * SigmaPrime(pre[i][l][k], n);
                }

                for (int j = 0; j < widths[l]; j++)
                {
                    for (int k = 0; k < widths[l - 1]; k++)
                    {
                        grad[offsets[l - 1] + (j * widths[l - 1]) + k] += next[j] * act[i][l - 1][k];
                    }
                }

                delta = next;
                widthAbove = widths[l];
            }
        }

        return logL;
    }
}
