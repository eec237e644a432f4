using System.Numerics;
using ILGPU;

namespace ImplicitBias.Flow.Kernels;

/// <summary>
/// The device kernels of the forward pass, the loss in the log domain and the backward pass, generic over
/// the floating-point type (double or float; ILGPU compiles .NET generic math for primitive types).
/// Matrices are row-major; activations of layer l for all samples form an m × n_l matrix. The activation
/// and loss kinds are passed as ints because they are uniform across a launch (no divergence).
/// </summary>
internal static class NetworkKernels
{
    /// <summary>pre[i, j] = Σ_k W[j, k] · input[i, k]; act[i, j] = σ(pre[i, j]). Index: (sample i, unit j).</summary>
    public static void ForwardLayer<T>(
        Index2D index, ArrayView<T> input, ArrayView<T> weights, ArrayView<T> pre, ArrayView<T> act,
        int fanIn, int width, int activation, T power)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = index.X;
        int j = index.Y;
        T sum = T.Zero;
        long inRow = (long)i * fanIn;
        long wRow = (long)j * fanIn;
        for (int k = 0; k < fanIn; k++)
        {
            sum += weights[wRow + k] * input[inRow + k];
        }

        long at = ((long)i * width) + j;
        pre[at] = sum;
        act[at] = Activate(sum, activation, power);
    }

    /// <summary>
    /// Output layer and loss of sample i: f = ⟨u, a_i⟩, z = y f, logLoss = log ℓ(z), logDeriv = log |ℓ'(z)|.
    /// </summary>
    public static void Output<T>(
        Index1D index, ArrayView<T> input, ArrayView<T> u, ArrayView<T> labels, int fanIn, int loss,
        ArrayView<T> margins, ArrayView<T> logLoss, ArrayView<T> logDeriv)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = index.X;
        T f = T.Zero;
        long row = (long)i * fanIn;
        for (int k = 0; k < fanIn; k++)
        {
            f += u[k] * input[row + k];
        }

        T z = labels[i] * f;
        margins[i] = z;
        // NaN must never reach a reduction: ILGPU's atomic max/add are compare-exchange loops that compare
        // with the old value, and NaN ≠ NaN makes them spin forever (seen on the CPU accelerator). A NaN
        // margin is reported as an infinite loss instead: log L = +∞ and a NaN gradient (logDeriv stays NaN).
        T logLossValue = LogLoss(z, loss);
        logLoss[i] = T.IsNaN(logLossValue) ? T.PositiveInfinity : logLossValue;
        logDeriv[i] = LogAbsDerivative(z, loss);
    }

    /// <summary>shifted[i] = exp(logLoss[i] − M) with M = scalars[0], the maximum (log-sum-exp).</summary>
    public static void Shift<T>(Index1D index, ArrayView<T> logLoss, ArrayView<T> scalars, ArrayView<T> shifted)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // The equality test keeps ∞ − ∞ = NaN out of the sum when the maximum is infinite.
        T value = logLoss[index];
        T max = scalars[0];
        shifted[index] = value == max ? T.One : T.Exp(value - max);
    }

    /// <summary>
    /// log L = M + log S (scalars[0] = M, scalars[1] = S = Σ shifted) and the output delta of sample i,
    /// ∂ log L / ∂f_i = ℓ'(z_i) y_i / L = −y_i exp(log|ℓ'(z_i)| − log L) (ℓ' &lt; 0 for both losses).
    /// Thread 0 also stores log L at logLOut[0].
    /// </summary>
    public static void Weights<T>(
        Index1D index, ArrayView<T> logDeriv, ArrayView<T> labels, ArrayView<T> scalars, ArrayView<T> delta, ArrayView<T> logLOut)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T logL = scalars[0] + T.Log(scalars[1]);
        delta[index] = -labels[index] * T.Exp(logDeriv[index] - logL);
        if (index.X == 0)
        {
            logLOut[0] = logL;
        }
    }

    /// <summary>grad[j, k] = Σ_i delta[i, j] · input[i, k]. Index: (unit j, input k). Fixed summation order.</summary>
    public static void GradientBlock<T>(
        Index2D index, ArrayView<T> delta, ArrayView<T> input, ArrayView<T> grad, int samples, int fanIn, int width)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int j = index.X;
        int k = index.Y;
        T sum = T.Zero;
        for (int i = 0; i < samples; i++)
        {
            sum += delta[((long)i * width) + j] * input[((long)i * fanIn) + k];
        }

        grad[((long)j * fanIn) + k] = sum;
    }

    /// <summary>
    /// Back-propagates through W (width × fanIn): prevDelta[i, k] = σ'(pre[i, k]) Σ_j W[j, k] delta[i, j].
    /// Index: (sample i, input unit k).
    /// </summary>
    public static void BackDelta<T>(
        Index2D index, ArrayView<T> delta, ArrayView<T> weights, ArrayView<T> pre, ArrayView<T> prevDelta,
        int fanIn, int width, int activation, T power)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = index.X;
        int k = index.Y;
        T sum = T.Zero;
        for (int j = 0; j < width; j++)
        {
            sum += weights[((long)j * fanIn) + k] * delta[((long)i * width) + j];
        }

        long at = ((long)i * fanIn) + k;
        prevDelta[at] = sum * Derivative(pre[at], activation, power);
    }

    /// <summary>σ(z).</summary>
    public static T Activate<T>(T z, int activation, T power)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (activation)
        {
            case (int)ActivationKind.Relu:
                return z > T.Zero ? z : T.Zero;
            case (int)ActivationKind.ReluPower:
                // q = 2 as z·z, exactly as the managed evaluator does it.
                return z > T.Zero ? (power == T.One + T.One ? z * z : T.Pow(z, power)) : T.Zero;
            case (int)ActivationKind.Quadratic:
                return z * z;
            default:
                return z;
        }
    }

    /// <summary>σ'(z), with σ'(0) = 0 for ReLU.</summary>
    public static T Derivative<T>(T z, int activation, T power)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (activation)
        {
            case (int)ActivationKind.Relu:
                return z > T.Zero ? T.One : T.Zero;
            case (int)ActivationKind.ReluPower:
                return z > T.Zero ? (power == T.One + T.One ? z + z : power * T.Pow(z, power - T.One)) : T.Zero;
            case (int)ActivationKind.Quadratic:
                return z + z;
            default:
                return T.One;
        }
    }

    /// <summary>
    /// log ℓ(z) without underflow. Logistic: for z &gt; 0, log log1p(t) with t = e^{−z} is written as
    /// −z + log(log1p(t)/t), finite even when t underflows (the ratio tends to 1).
    /// </summary>
    public static T LogLoss<T>(T z, int loss)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (loss == (int)LossKind.Exponential)
        {
            return -z;
        }

        if (z > T.Zero)
        {
            T t = T.Exp(-z);
            T ratio = t > T.Zero ? Log1P(t) / t : T.One;
            return -z + T.Log(ratio);
        }

        return T.Log(-z + Log1P(T.Exp(z)));
    }

    /// <summary>log |ℓ'(z)|: −z (exponential); −softplus(z) = −log(1 + e^z) (logistic), stable both ways.</summary>
    public static T LogAbsDerivative<T>(T z, int loss)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (loss == (int)LossKind.Exponential)
        {
            return -z;
        }

        return z > T.Zero ? -(z + Log1P(T.Exp(-z))) : -Log1P(T.Exp(z));
    }

    /// <summary>
    /// log(1 + x) accurate for small x (Goldberg's trick; .NET's LogP1 is log(x + 1), which loses small x).
    /// </summary>
    public static T Log1P<T>(T x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T u = T.One + x;
        if (u == T.One)
        {
            return x;
        }

        return T.Log(u) * x / (u - T.One);
    }
}
