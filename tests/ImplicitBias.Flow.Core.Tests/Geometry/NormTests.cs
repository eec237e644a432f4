using ImplicitBias.Flow.Core.Geometry;
using ImplicitBias.Flow.Core.Parameters;
using MathNet.Numerics.LinearAlgebra;

namespace ImplicitBias.Flow.Core.Tests.Geometry;

public class NormTests
{
    // A two-layer network (W: 3×4, u: 1×3) and a deeper one with a wide and a tall matrix.
    private static readonly ParameterLayout TwoLayer = ParameterLayout.FullyConnected(4, [3]);
    private static readonly ParameterLayout Deep = ParameterLayout.FullyConnected(5, [2, 4]);

    private static readonly string[] AllNames =
    [
        "l1", "l2", "linf", "sp", "nuc", "msp", "snuc", "muon-signum", "muon-signum*", "muon-adam", "muon-adam*", "deep-msp", "deep-snuc",
    ];

    public static TheoryData<string> NormNames => new(AllNames);

    private static Norm Make(string name) => name switch
    {
        "l1" => Norms.L1,
        "l2" => Norms.L2,
        "linf" => Norms.LInf,
        "sp" => new SpectralNorm(3, 5),
        "nuc" => new NuclearNorm(4, 2),
        "msp" => Norms.Msp(TwoLayer),
        "snuc" => Norms.Snuc(TwoLayer),
        "muon-signum" => Norms.MuonSignum(TwoLayer),
        "muon-signum*" => Norms.MuonSignum(TwoLayer).Dual,
        "muon-adam" => Norms.MuonAdam(TwoLayer, 0.37),
        "muon-adam*" => Norms.MuonAdam(TwoLayer, 0.37).Dual,
        "deep-msp" => Norms.Msp(Deep),
        "deep-snuc" => Norms.Snuc(Deep),
        _ => throw new ArgumentException(name),
    };

    private static int Dim(string name) => name switch
    {
        "l1" or "l2" or "linf" => 6,
        "sp" => 15,
        "nuc" => 8,
        "deep-msp" or "deep-snuc" => Deep.Length,
        _ => TwoLayer.Length,
    };

    private static double[] Gaussian(Random rng, int n)
    {
        var x = new double[n];
        for (int j = 0; j < n; j++)
        {
            x[j] = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        }

        return x;
    }

    private static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double s = 0;
        for (int j = 0; j < a.Length; j++)
        {
            s += a[j] * b[j];
        }

        return s;
    }

    [Theory]
    [MemberData(nameof(NormNames))]
    public void SteepestDirection_HasUnitNorm_AndAttainsDualNorm(string name)
    {
        Norm norm = Make(name);
        var rng = new Random(17);
        for (int trial = 0; trial < 20; trial++)
        {
            double[] g = Gaussian(rng, Dim(name));
            var u = new double[g.Length];
            norm.SteepestDirection(g, u);
            Assert.Equal(1.0, norm.Value(u), 10);
            Assert.Equal(norm.Dual.Value(g), Dot(u, g), 9);
        }
    }

    [Theory]
    [MemberData(nameof(NormNames))]
    public void RandomSearchOverUnitBall_NeverBeatsSteepestDirection(string name)
    {
        Norm norm = Make(name);
        var rng = new Random(5);
        double[] g = Gaussian(rng, Dim(name));
        var u = new double[g.Length];
        norm.SteepestDirection(g, u);
        double best = Dot(u, g);
        double searched = double.NegativeInfinity;
        for (int trial = 0; trial < 3000; trial++)
        {
            double[] x = Gaussian(rng, g.Length);
            // Bias half of the candidates towards g so that the search gets close to the optimum.
            if (trial % 2 == 0)
            {
                for (int j = 0; j < x.Length; j++)
                {
                    x[j] = g[j] + (0.3 * x[j]);
                }
            }

            double n = norm.Value(x);
            searched = Math.Max(searched, Dot(x, g) / n);
        }

        Assert.True(searched <= best + 1e-10, $"random search found {searched} > {best}");
        // The search over 3000 candidates gets within a sizable fraction of the optimum (sanity of the search).
        Assert.True(searched > 0.5 * best, $"search {searched} vs {best}");
    }

    [Theory]
    [MemberData(nameof(NormNames))]
    public void Holder_HoldsOnRandomPairs_NormDualAndDualOfDual_MatchIndependentFormulas(string name)
    {
        Norm norm = Make(name);
        var rng = new Random(11);
        for (int trial = 0; trial < 200; trial++)
        {
            double[] x = Gaussian(rng, Dim(name));
            double[] g = Gaussian(rng, Dim(name));
            Assert.True(Dot(x, g) <= (norm.Value(x) * norm.Dual.Value(g)) + 1e-12);

            // The values against formulas computed here from MathNet's SVD, block by block (Lemma C.22), so a
            // dual that merely returns its primal (or a wrong block weight) fails.
            (double primal, double dual) = Independent(name, x, g);
            Assert.Equal(primal, norm.Value(x), 1e-12 * primal);
            Assert.Equal(dual, norm.Dual.Value(g), 1e-12 * dual);
            Assert.Equal(primal, norm.Dual.Dual.Value(x), 1e-12 * primal);
        }
    }

    [Theory]
    [InlineData("l1")]
    [InlineData("linf")]
    public void PolyhedralDual_EqualsTheMaximumOverTheUnitBallsVertices(string name)
    {
        // ‖g‖⋆ = max over the unit ball of ⟨x, g⟩, a linear program whose optimum sits at a vertex: for ℓ1 the
        // 2n vectors ±e_j, for ℓ∞ the 2ⁿ sign vectors (n = 6). Enumerated here, independent of any formula.
        Norm norm = Make(name);
        var rng = new Random(23);
        int n = Dim(name);
        for (int trial = 0; trial < 20; trial++)
        {
            double[] g = Gaussian(rng, n);
            double best = double.NegativeInfinity;
            if (name == "l1")
            {
                for (int j = 0; j < n; j++)
                {
                    best = Math.Max(best, Math.Max(g[j], -g[j]));
                }
            }
            else
            {
                for (int mask = 0; mask < 1 << n; mask++)
                {
                    double s = 0;
                    for (int j = 0; j < n; j++)
                    {
                        s += ((mask >> j) & 1) == 1 ? g[j] : -g[j];
                    }

                    best = Math.Max(best, s);
                }
            }

            Assert.Equal(best, norm.Dual.Value(g), 12);
        }
    }

    private static double[] SingularValues(ReadOnlySpan<double> block, int rows, int cols)
    {
        double[] copy = block.ToArray();
        return Matrix<double>.Build.Dense(rows, cols, (i, j) => copy[(i * cols) + j]).Svd(false).S.ToArray();
    }

    /// <summary>(‖x‖, ‖g‖⋆) of a named norm, from singular values and coordinates, without the Norm classes.</summary>
    private static (double Primal, double Dual) Independent(string name, double[] x, double[] g) => name switch
    {
        "l1" => (SumAbs(x), MaxAbs(g)),
        "l2" => (L2(x), L2(g)),
        "linf" => (MaxAbs(x), SumAbs(g)),
        "sp" => (SingularValues(x, 3, 5).Max(), SingularValues(g, 3, 5).Sum()),
        "nuc" => (SingularValues(x, 4, 2).Sum(), SingularValues(g, 4, 2).Max()),
        "msp" => (MaxForm(TwoLayer, 1, false, x), SumForm(TwoLayer, 1, false, g)),
        "snuc" => (SumForm(TwoLayer, 1, false, x), MaxForm(TwoLayer, 1, false, g)),
        "muon-signum" => (MaxForm(TwoLayer, 1, true, x), SumForm(TwoLayer, 1, true, g)),
        "muon-signum*" => (SumForm(TwoLayer, 1, true, x), MaxForm(TwoLayer, 1, true, g)),
        "muon-adam" => (MaxForm(TwoLayer, 0.37, true, x), SumForm(TwoLayer, 0.37, true, g)),
        "muon-adam*" => (SumForm(TwoLayer, 0.37, true, x), MaxForm(TwoLayer, 0.37, true, g)),
        "deep-msp" => (MaxForm(Deep, 1, false, x), SumForm(Deep, 1, false, g)),
        "deep-snuc" => (SumForm(Deep, 1, false, x), MaxForm(Deep, 1, false, g)),
        _ => throw new ArgumentException(name),
    };

    private static double MaxAbs(ReadOnlySpan<double> v) => v.ToArray().Max(Math.Abs);

    private static double SumAbs(ReadOnlySpan<double> v) => v.ToArray().Sum(Math.Abs);

    private static double L2(ReadOnlySpan<double> v) => Math.Sqrt(v.ToArray().Sum(a => a * a));

    /// <summary>
    /// max_b r_b ‖v_b‖: spectral norm on matrices (r_b = <paramref name="matrixWeight"/>), and on the output vector
    /// ℓ∞ when <paramref name="vectorIsLinf"/> (Muon mixtures), else its spectral norm as a 1×k matrix (msp).
    /// </summary>
    private static double MaxForm(ParameterLayout layout, double matrixWeight, bool vectorIsLinf, double[] v)
    {
        double value = 0;
        for (int b = 0; b < layout.Blocks.Count; b++)
        {
            ParameterBlock block = layout.Blocks[b];
            double[] part = layout.Slice(v, b).ToArray();
            value = Math.Max(value, !block.IsMatrix && vectorIsLinf
                ? MaxAbs(part)
                : (block.IsMatrix ? matrixWeight : 1.0) * SingularValues(part, block.Rows, block.Cols).Max());
        }

        return value;
    }

    /// <summary>Σ_b ‖v_b‖⋆ / r_b, the dual of <see cref="MaxForm"/> by Lemma C.22 (nuclear norms; ℓ1 on ℓ∞ blocks).</summary>
    private static double SumForm(ParameterLayout layout, double matrixWeight, bool vectorIsLinf, double[] v)
    {
        double value = 0;
        for (int b = 0; b < layout.Blocks.Count; b++)
        {
            ParameterBlock block = layout.Blocks[b];
            double[] part = layout.Slice(v, b).ToArray();
            value += !block.IsMatrix && vectorIsLinf
                ? SumAbs(part)
                : SingularValues(part, block.Rows, block.Cols).Sum() / (block.IsMatrix ? matrixWeight : 1.0);
        }

        return value;
    }

    [Fact]
    public void SpectralAndNuclear_MatchIndependentSvd()
    {
        var rng = new Random(3);
        foreach ((int r, int c) in new[] { (3, 5), (5, 3), (4, 4), (1, 6), (6, 1) })
        {
            double[] g = Gaussian(rng, r * c);
            var s = Matrix<double>.Build.Dense(r, c, (i, j) => g[(i * c) + j]).Svd(false).S;
            Assert.Equal(s[0], new SpectralNorm(r, c).Value(g), 12);
            Assert.Equal(s.Sum(), new NuclearNorm(r, c).Value(g), 12);
        }
    }

    [Fact]
    public void VectorNorms_KnownValuesAndDirections()
    {
        double[] g = [3, -4, 0];
        Assert.Equal(5, Norms.L2.Value(g));
        Assert.Equal(4, Norms.LInf.Value(g));
        Assert.Equal(7, Norms.L1.Value(g));
        var u = new double[3];
        Norms.LInf.SteepestDirection(g, u);
        Assert.Equal([1, -1, 0], u);
        Norms.L1.SteepestDirection(g, u);
        Assert.Equal([0, -1, 0], u);
        Norms.L2.SteepestDirection(g, u);
        Assert.Equal([0.6, -0.8, 0], u, (a, b) => Math.Abs(a - b) < 1e-15);
    }

    [Fact]
    public void Msp_TreatsOutputRowAsMatrix_AndMuonAdamWeightsMatrices()
    {
        // W = diag-like 3×4 with top singular value 2; u = (3, 4, 0) with ℓ2 norm 5 and ℓ∞ norm 4.
        double[] theta = [2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0.5, 0, 3, 4, 0];
        Assert.Equal(5, Norms.Msp(TwoLayer).Value(theta), 12);
        Assert.Equal(2 + 1 + 0.5 + 5, Norms.Snuc(TwoLayer).Value(theta), 12);
        Assert.Equal(4, Norms.MuonSignum(TwoLayer).Value(theta), 12);
        Assert.Equal(Math.Max(3 * 2, 4), Norms.MuonAdam(TwoLayer, 3).Value(theta), 12);
        Assert.Equal(((2 + 1 + 0.5) / 3) + 7, Norms.MuonAdam(TwoLayer, 3).Dual.Value(theta), 12);
    }

    [Fact]
    public void ZeroGradient_GivesZeroDirection()
    {
        foreach (string name in AllNames)
        {
            var u = Enumerable.Repeat(7.0, Dim(name)).ToArray();
            Make(name).SteepestDirection(new double[Dim(name)], u);
            Assert.All(u, v => Assert.Equal(0.0, v));
        }
    }

    [Fact]
    public void BlockNorms_RejectBadWeightsAndLengths()
    {
        Assert.Throws<ArgumentException>(() => new BlockMaxNorm(TwoLayer, [Norms.L2, Norms.L2], [1.0, 0.0]));
        Assert.Throws<ArgumentException>(() => new BlockMaxNorm(TwoLayer, [Norms.L2], [1.0]));
        Assert.Throws<ArgumentException>(() => Norms.Msp(TwoLayer).Value(new double[3]));
    }
}
