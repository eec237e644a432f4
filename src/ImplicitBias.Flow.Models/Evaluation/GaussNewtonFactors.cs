using System.Numerics.Tensors;
using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Double;

namespace ImplicitBias.Flow.Models.Evaluation;

/// <summary>
/// The leading factors of the Gauss–Newton part of ∇² log L. With margins z_i = y_i f_i (y_i² = 1),
/// ∇² log L = Σ_i ω_i ∇f_i ∇f_iᵀ + Σ_i (ℓ'(z_i)/L) y_i ∇²f_i − ∇ log L ∇ log Lᵀ, ω_i = ℓ''(z_i)/L. The first sum, the
/// Gauss–Newton part G = A Aᵀ (columns a_i = √ω_i ∇f_i), needs only per-sample output gradients, no evaluation of the
/// Hessian. This class keeps the <see cref="MaxSamples"/> samples of largest ω_i ‖∇f_i‖² (a sample's weight in the
/// spectrum), optionally projects out a unit direction ĝ (P = I − ĝĝᵀ), and writes F = A Q, with Q the top
/// <c>rank</c> eigenvectors of the sample-space matrix Aᵀ P A (the Gram matrix, S × S instead of |θ| × |θ|): then
/// P A Aᵀ restricted to those directions is P F Fᵀ, and its nonzero eigenvalues are those of Aᵀ P A. Deterministic (fixed
/// order of every sum), so a solve resumed from a checkpoint rebuilds the same factors.
/// </summary>
public sealed class GaussNewtonFactors
{
    private readonly LossEvaluator _evaluator;
    private readonly int _n;
    private readonly double[] _sampleGradient;
    private readonly double[][] _columns;
    private readonly double[] _score;
    private readonly int[] _order;
    private readonly double[] _logWeight;

    /// <param name="evaluator">The model's evaluator (its last-evaluation buffers are overwritten by <see cref="Compute"/>).</param>
    /// <param name="maxSamples">The most samples kept (the S of the S × S eigenproblem).</param>
    public GaussNewtonFactors(LossEvaluator evaluator, int maxSamples)
    {
        _evaluator = evaluator ?? throw new ArgumentNullException(nameof(evaluator));
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSamples, 1);
        _n = evaluator.ParameterCount;
        int m = evaluator.Data.Count;
        MaxSamples = Math.Min(maxSamples, m);
        _sampleGradient = new double[_n];
        _columns = new double[MaxSamples][];
        for (int i = 0; i < MaxSamples; i++)
        {
            _columns[i] = new double[_n];
        }

        _score = new double[m];
        _order = new int[m];
        _logWeight = new double[m];
    }

    private const int Chunk = 512;

    /// <summary>
    /// gram[i, k] = a_i · a_k (lower triangle, row-major S × S), summed a chunk of θ at a time (chunk order fixed, so the
    /// value does not depend on the threads): the S columns' chunks stay in cache across the S²/2 products, where whole
    /// columns would be streamed from memory for each product.
    /// </summary>
    private void Gram(int s, double[] gram)
    {
        int parts = Math.Max(1, Environment.ProcessorCount);
        // Rows split so that each part has about the same number of products (row i has i + 1).
        var bounds = new int[parts + 1];
        for (int p = 1; p <= parts; p++)
        {
            bounds[p] = p == parts ? s : (int)Math.Round(s * Math.Sqrt((double)p / parts));
        }

        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, p =>
        {
            for (int start = 0; start < _n; start += Chunk)
            {
                int length = Math.Min(Chunk, _n - start);
                for (int i = bounds[p]; i < bounds[p + 1]; i++)
                {
                    ReadOnlySpan<double> ai = _columns[i].AsSpan(start, length);
                    for (int k = 0; k <= i; k++)
                    {
                        gram[(i * s) + k] += TensorPrimitives.Dot<double>(ai, _columns[k].AsSpan(start, length));
                    }
                }
            }
        });
    }

    /// <summary>The most samples kept.</summary>
    public int MaxSamples { get; }

    /// <summary>log L at the θ of the last <see cref="Compute"/>.</summary>
    public double LogLoss { get; private set; } = double.NaN;

    /// <summary>How many samples the last <see cref="Compute"/> kept.</summary>
    public int SamplesKept { get; private set; }

    /// <summary>
    /// At θ: one forward pass of the model (the margins; no gradient), the samples ranked, and up to
    /// <c>factors.Length</c> factors F_k (each |θ| values) written into <paramref name="factors"/>, largest eigenvalue of
    /// Aᵀ P A first, where P = I − ĝĝᵀ for the unit vector <paramref name="projectOut"/> (empty: P = I; normalized GD's
    /// Jacobian has that projector in front, with ĝ its direction of motion). Returns how many were written.
    /// </summary>
    public int Compute(ReadOnlySpan<double> theta, ReadOnlySpan<double> projectOut, double[][] factors)
    {
        ArgumentNullException.ThrowIfNull(factors);
        if (!projectOut.IsEmpty && projectOut.Length != _n)
        {
            throw new ArgumentException($"The projected direction has {projectOut.Length} values; θ has {_n}.", nameof(projectOut));
        }

        LogLoss = _evaluator.EvaluateLoss(theta);
        ReadOnlySpan<double> margins = _evaluator.Margins;
        Models.Losses.Loss loss = _evaluator.Loss;
        int m = margins.Length;

        // Rank by ω_i ‖∇f_i‖² (the trace of a sample's term), so the samples that carry the stiff spectrum are kept.
        for (int i = 0; i < m; i++)
        {
            _logWeight[i] = loss.LogSecondDerivative(margins[i]) - LogLoss;
            _order[i] = i;
            if (_logWeight[i] < -700)
            {
                _score[i] = 0;
                continue;
            }

            _evaluator.SampleOutputGradient(theta, i, _sampleGradient);
            _score[i] = Math.Exp(_logWeight[i]) * TensorPrimitives.Dot<double>(_sampleGradient, _sampleGradient);
        }

        // Largest score first; ties by index, so the order is the same on every machine.
        Array.Sort(_order, (a, b) => _score[a] != _score[b] ? _score[b].CompareTo(_score[a]) : a.CompareTo(b));
        int s = 0;
        while (s < MaxSamples && _score[_order[s]] > 0)
        {
            s++;
        }

        SamplesKept = s;
        int rank = Math.Min(factors.Length, s);
        if (rank == 0)
        {
            return 0;
        }

        for (int k = 0; k < s; k++)
        {
            int i = _order[k];
            _evaluator.SampleOutputGradient(theta, i, _columns[k]);
            TensorPrimitives.Multiply(_columns[k], Math.Exp(0.5 * _logWeight[i]), _columns[k]);
        }

        // Aᵀ P A = Aᵀ A − c cᵀ, c = Aᵀ ĝ.
        var c = new double[s];
        if (!projectOut.IsEmpty)
        {
            for (int k = 0; k < s; k++)
            {
                c[k] = TensorPrimitives.Dot<double>(_columns[k], projectOut);
            }
        }

        var gram = new double[s * s];
        Gram(s, gram);
        for (int i = 0; i < s; i++)
        {
            for (int k = 0; k <= i; k++)
            {
                double value = gram[(i * s) + k] - (c[i] * c[k]);
                gram[(i * s) + k] = value;
                gram[(k * s) + i] = value;
            }
        }

        var evd = DenseMatrix.OfColumnMajor(s, s, gram).Evd(Symmetricity.Symmetric);
        Vector<double> values = evd.EigenValues.Map(e => e.Real);
        Matrix<double> vectors = evd.EigenVectors;
        int written = 0;
        var selected = new List<int>();
        for (int j = s - 1; j >= 0 && written < rank; j--) // MathNet sorts a symmetric matrix's eigenvalues ascending
        {
            if (!(values[j] > 0))
            {
                break;
            }

            if (factors[written].Length != _n)
            {
                throw new ArgumentException($"factors[{written}] has {factors[written].Length} values; θ has {_n}.", nameof(factors));
            }

            selected.Add(j);
            written++;
        }

        // F_j = Σ_k Q_kj a_k, a chunk of θ at a time so that the chunk of every column stays in cache while the factors
        // are summed (the columns are some 30 MB at S = 256 on MNIST); the sums run in k order in every chunk.
        int chunks = (_n + Chunk - 1) / Chunk;
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, chunk =>
        {
            int start = chunk * Chunk, length = Math.Min(Chunk, _n - start);
            for (int f = 0; f < selected.Count; f++)
            {
                Span<double> target = factors[f].AsSpan(start, length);
                target.Clear();
                for (int k = 0; k < s; k++)
                {
                    TensorPrimitives.MultiplyAdd(_columns[k].AsSpan(start, length), vectors[k, selected[f]], target, target);
                }
            }
        });

        return written;
    }
}
