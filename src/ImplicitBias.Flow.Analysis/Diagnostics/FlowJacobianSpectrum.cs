using System.Globalization;
using System.Numerics;
using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Flows;

namespace ImplicitBias.Flow.Analysis.Diagnostics;

/// <summary>A vector field y′ = f(t, y).</summary>
/// <param name="t">Time.</param>
/// <param name="y">State.</param>
/// <param name="dydt">Receives f(t, y).</param>
public delegate void VectorField(double t, ReadOnlySpan<double> y, Span<double> dydt);

/// <summary>How to compute the leading eigenvalues of a flow's Jacobian.</summary>
/// <param name="Count">How many eigenvalues (largest |λ| first).</param>
/// <param name="KrylovDimension">Arnoldi steps: two evaluations of the vector field each.</param>
/// <param name="TopCoordinates">How many of an eigenvector's largest coordinates to name.</param>
/// <param name="IncludeDecay">
/// True for the whole field −c_b y_b + N(t, y); false for N alone, the part an exponential stepper (ETDRK4) treats
/// explicitly (its linear part, the decay −c_b of the m̃ and ṽ blocks, is integrated exactly).
/// </param>
/// <param name="Seed">Seed of Arnoldi's start vector.</param>
public sealed record SpectrumOptions(int Count = 6, int KrylovDimension = 30, int TopCoordinates = 5, bool IncludeDecay = true, int Seed = 1);

/// <summary>One coordinate of an eigenvector.</summary>
/// <param name="Block">The state block (θ, m:adam, v:adam, …).</param>
/// <param name="Index">The index inside the block.</param>
/// <param name="Parameter">The parameter it belongs to, e.g. "W1[3,120]" (neuron 3, input 120) or "u[3]"; the block name for σ and the log scales.</param>
/// <param name="Magnitude">|x_i| of the unit eigenvector in scaled coordinates.</param>
public sealed record ModeCoordinate(string Block, int Index, string Parameter, double Magnitude);

/// <summary>One eigenvalue of ∂f/∂y and where its eigenvector lives.</summary>
/// <param name="Eigenvalue">λ.</param>
/// <param name="Residual">The Arnoldi residual ‖J x − λ x‖ of the unit Ritz vector (scaled coordinates): small against |λ| means converged.</param>
/// <param name="BlockShares">Σ|x_i|² per state block (they add up to 1), largest first.</param>
/// <param name="Top">The largest coordinates.</param>
public sealed record FlowMode(Complex Eigenvalue, double Residual, IReadOnlyList<(string Block, double Share)> BlockShares, IReadOnlyList<ModeCoordinate> Top)
{
    /// <summary>The block holding most of the eigenvector.</summary>
    public string MainBlock => BlockShares[0].Block;
}

/// <summary>
/// The few eigenvalues of largest |λ| of a flow's Jacobian ∂f/∂y at a state, by Arnoldi on Jacobian–vector products
/// taken as central differences of the vector field. These are what bound an explicit stepper's step (h|λ| inside
/// its stability region), and their eigenvectors say which block and which neurons carry the fast motion.
/// </summary>
/// <remarks>
/// The blocks of the state have different scales (θ of order ‖θ‖, m̃ and ṽ of order one but with coordinates near
/// zero for dead units, σ = log L). The Jacobian is therefore taken in scaled coordinates, J_s = S⁻¹ J S with
/// S = diag(s_i), s_i = max(|y_i|, 10⁻³ max_{j ∈ block}|y_j|) (1 where a block is zero; |y_i| alone in ṽ; in Adam's m̃ the size at which m̂/√v̂ = 1, see <see cref="Scales(OptimizerFlow, double, ReadOnlySpan{double})"/>): J_s has the eigenvalues of
/// J, each difference perturbs every coordinate by at most a fraction ε of its own scale (so ṽ stays positive), and
/// the eigenvector shares are measured as the error test sees them (relative to each coordinate's size).
/// J_s w ≈ S⁻¹ (f(y + ε S w) − f(y − ε S w)) / (2ε) with ε = ∛(machine ε) ≈ 6·10⁻⁶, which balances the O(ε²)
/// truncation against the O(u/ε) round-off of the difference; for a linear field it is exact up to round-off.
/// Caveat: where coupled blocks sit at very different scales (m̃ ~ 10⁻⁹ against θ ~ 1), J_s has entries of order
/// 10^{±9} and its eigenvalues are ill-conditioned (round-off of the differences moves them by several per cent while
/// the Arnoldi residual stays small). For Adam, whose θ′ = −η m̂/√v̂ couples θ_i to m̃_i through 1/√ṽ_i, the flow's
/// overload therefore scales m̃_i by the size at which m̂_i/√v̂_i = 1 (<see cref="Scales(OptimizerFlow, double, ReadOnlySpan{double})"/>),
/// which balances that coupling whatever the sizes of m̃ and ṽ; the eigenvectors' shares are still reported in the
/// block scales above.
/// </remarks>
public static class FlowJacobianSpectrum
{
    /// <summary>The step of the central differences in scaled coordinates, ∛u.</summary>
    public static readonly double DifferenceStep = Math.Cbrt(Math.Pow(2, -52));

    /// <summary>The leading eigenvalues of an <see cref="OptimizerFlow"/>'s Jacobian at (t, y).</summary>
    /// <param name="flow">The flow (its <see cref="OptimizerFlow.Evaluate"/> is N; the decay rates are in its layout).</param>
    /// <param name="t">Time.</param>
    /// <param name="y">State (not modified).</param>
    /// <param name="options">Count, Krylov dimension, whether to include the decay.</param>
    public static IReadOnlyList<FlowMode> Compute(OptimizerFlow flow, double t, ReadOnlySpan<double> y, SpectrumOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(flow);
        options ??= new SpectrumOptions();
        double[] state = y.ToArray();
        // The differences are taken in the balanced scales; the shares are reported in the scales the error test uses.
        return Compute(Field(flow, options.IncludeDecay), flow.Layout, t, state, Scales(flow, t, state), options, ParameterNamer(flow), ErrorTestScales(flow, state));
    }

    /// <summary>
    /// The scales S of a flow's state: <see cref="Scales(StateLayout, ReadOnlySpan{double}, Func{int, bool}?)"/> with the
    /// ṽ blocks relative, and in a momentum block paired with a ṽ block (Adam) s_i = max(|m̃_i|, r_i) where ṽ_i &gt; 0,
    /// with r_i = (b1/√b2) √ṽ_i e^{λ_v/2 − λ_m} (b_k = 1 − e^{−c_k t}), the m̃_i at which m̂_i/√v̂_i = 1
    /// (<see cref="OptimizerFlow.CoordinateScales"/>). Why: θ_i′ =
    /// −η m̂_i/√v̂_i couples θ_i to m̃_i with the weight 1/√ṽ_i, which for a weight whose gradient has long been tiny (an
    /// input pixel almost always zero) reaches 10⁴⁵ late in a run (v decays like e^{−c2 t}); with m̃_i scaled by its
    /// block's size, S⁻¹ J S carries that weight as an entry of 10³⁰ or more, and round-off in the differences turns it
    /// into spurious real eigenvalues of ±10²⁶ (measured at t = 2·10⁵ of Adam on MNIST). Scaled by r_i the entry is
    /// η/s_θ, of the order of the rest: the matrix is balanced, and its eigenvalues (those of J) are computed to
    /// round-off of the flow's own size.
    /// </summary>
    /// <param name="flow">The flow.</param>
    /// <param name="t">Time (for the bias corrections).</param>
    /// <param name="y">State.</param>
    public static double[] Scales(OptimizerFlow flow, double t, ReadOnlySpan<double> y)
    {
        ArgumentNullException.ThrowIfNull(flow);
        StateLayout layout = flow.Layout;
        double[] s = ErrorTestScales(flow, y);
        var own = new double[layout.Length];
        flow.CoordinateScales(t, y, own);
        for (int i = 0; i < s.Length; i++)
        {
            if (own[i] > 0)
            {
                s[i] = Math.Max(Math.Abs(y[i]), own[i]);
            }
        }

        return s;
    }

    /// <summary>The scales in which the eigenvectors' shares are reported: the block rule with the ṽ blocks relative.</summary>
    private static double[] ErrorTestScales(OptimizerFlow flow, ReadOnlySpan<double> y)
    {
        var relative = new bool[flow.Layout.BlockCount];
        for (int p = 0; p < flow.Parts.Count; p++)
        {
            if (flow.SecondMomentBlock(p) >= 0)
            {
                relative[flow.SecondMomentBlock(p)] = true;
            }
        }

        return Scales(flow.Layout, y, b => relative[b]);
    }

    /// <summary>The leading eigenvalues of the Jacobian of any vector field on a block layout.</summary>
    /// <param name="field">f(t, y).</param>
    /// <param name="layout">The blocks of y (for the scales and the shares).</param>
    /// <param name="t">Time.</param>
    /// <param name="y">State (not modified).</param>
    /// <param name="options">Count, Krylov dimension.</param>
    /// <param name="name">Names coordinate i of block b (null: "block[i]").</param>
    /// <param name="relative">The blocks scaled by |y_i| alone (see <see cref="Scales(StateLayout, ReadOnlySpan{double}, Func{int, bool}?)"/>; null: none).</param>
    public static IReadOnlyList<FlowMode> Compute(VectorField field, StateLayout layout, double t, ReadOnlySpan<double> y, SpectrumOptions? options = null, Func<int, int, string>? name = null, Func<int, bool>? relative = null)
    {
        ArgumentNullException.ThrowIfNull(field);
        ArgumentNullException.ThrowIfNull(layout);
        options ??= new SpectrumOptions();
        int n = layout.Length;
        if (y.Length != n)
        {
            throw new ArgumentException($"y has {y.Length} values; the layout {n}.", nameof(y));
        }

        double[] state = y.ToArray();
        return Compute(field, layout, t, state, Scales(layout, state, relative), options, name);
    }

    private static FlowMode[] Compute(VectorField field, StateLayout layout, double t, double[] state, double[] scale, SpectrumOptions options, Func<int, int, string>? name, double[]? shareScale = null)
    {
        int n = layout.Length;
        var plus = new double[n];
        var minus = new double[n];
        var fPlus = new double[n];
        var fMinus = new double[n];
        double eps = DifferenceStep;

        void Product(ReadOnlySpan<double> w, Span<double> result)
        {
            for (int i = 0; i < n; i++)
            {
                double d = eps * scale[i] * w[i];
                plus[i] = state[i] + d;
                minus[i] = state[i] - d;
            }

            field(t, plus, fPlus);
            field(t, minus, fMinus);
            for (int i = 0; i < n; i++)
            {
                result[i] = (fPlus[i] - fMinus[i]) / (2 * eps * scale[i]);
            }
        }

        IReadOnlyList<RitzPair> pairs = Krylov.LargestMagnitude(Product, n, options.Count, options.KrylovDimension, options.Seed);
        return pairs.Select(p => Describe(shareScale is null ? p : Rescaled(p, scale, shareScale), layout, options.TopCoordinates, name)).ToArray();
    }

    /// <summary>The whole field −c_b y_b + N(t, y) of a flow, or N alone.</summary>
    public static VectorField Field(OptimizerFlow flow, bool includeDecay)
    {
        ArgumentNullException.ThrowIfNull(flow);
        StateLayout layout = flow.Layout;
        return (t, y, dydt) =>
        {
            flow.Evaluate(t, y, dydt);
            if (!includeDecay)
            {
                return;
            }

            for (int b = 0; b < layout.BlockCount; b++)
            {
                double c = layout.Blocks[b].DecayRate;
                if (c > 0)
                {
                    int o = layout.Offset(b);
                    for (int i = o; i < o + layout.Blocks[b].Length; i++)
                    {
                        dydt[i] -= c * y[i];
                    }
                }
            }
        };
    }

    /// <summary>
    /// s_i = max(|y_i|, 10⁻³ max over the block), 1 where the block is zero (see the remarks). In a
    /// <paramref name="relative"/> block s_i = |y_i| wherever y_i ≠ 0: the second moments ṽ enter the field through
    /// 1/√ṽ, so a coordinate far below its block's scale (an input pixel that is almost always zero) must be perturbed
    /// by a fraction of itself, or the difference straddles the singularity and returns a spurious huge eigenvalue.
    /// </summary>
    public static double[] Scales(StateLayout layout, ReadOnlySpan<double> y, Func<int, bool>? relative = null)
    {
        ArgumentNullException.ThrowIfNull(layout);
        var s = new double[layout.Length];
        for (int b = 0; b < layout.BlockCount; b++)
        {
            int o = layout.Offset(b), len = layout.Blocks[b].Length;
            double max = 0;
            for (int i = o; i < o + len; i++)
            {
                max = Math.Max(max, Math.Abs(y[i]));
            }

            for (int i = o; i < o + len; i++)
            {
                s[i] = max == 0 ? 1
                    : relative?.Invoke(b) == true && y[i] != 0 ? Math.Abs(y[i])
                    : Math.Max(Math.Abs(y[i]), 1e-3 * max);
            }
        }

        return s;
    }

    /// <summary>The Ritz vector x (scales <paramref name="from"/>) in the scales <paramref name="to"/>, of unit norm again.</summary>
    private static RitzPair Rescaled(RitzPair pair, double[] from, double[] to)
    {
        var x = new Complex[pair.Vector.Length];
        double norm = 0;
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = pair.Vector[i] * (from[i] / to[i]);
            norm += (x[i].Real * x[i].Real) + (x[i].Imaginary * x[i].Imaginary);
        }

        norm = Math.Sqrt(norm);
        for (int i = 0; i < x.Length && norm > 0; i++)
        {
            x[i] /= norm;
        }

        return pair with { Vector = x };
    }

    private static FlowMode Describe(RitzPair pair, StateLayout layout, int top, Func<int, int, string>? name)
    {
        var shares = new List<(string, double)>();
        var coordinates = new List<ModeCoordinate>();
        for (int b = 0; b < layout.BlockCount; b++)
        {
            int o = layout.Offset(b), len = layout.Blocks[b].Length;
            double share = 0;
            for (int i = 0; i < len; i++)
            {
                double m = pair.Vector[o + i].Magnitude;
                share += m * m;
            }

            shares.Add((layout.Blocks[b].Name, share));
        }

        int[] order = Enumerable.Range(0, layout.Length).OrderByDescending(i => pair.Vector[i].Magnitude).Take(top).ToArray();
        foreach (int i in order)
        {
            int b = 0;
            while (b + 1 < layout.BlockCount && layout.Offset(b + 1) <= i)
            {
                b++;
            }

            int local = i - layout.Offset(b);
            string label = name?.Invoke(b, local) ?? string.Create(CultureInfo.InvariantCulture, $"{layout.Blocks[b].Name}[{local}]");
            coordinates.Add(new ModeCoordinate(layout.Blocks[b].Name, local, label, pair.Vector[i].Magnitude));
        }

        return new FlowMode(pair.Value, pair.Residual, shares.OrderByDescending(s => s.Item2).ToArray(), coordinates);
    }

    /// <summary>
    /// Names coordinate <c>index</c> of a flow's state: θ's by the parameter, "W1[neuron,input]" or "u[neuron]"; m̃'s and
    /// ṽ's as "m:W1[…]", "v:u[…]"; the other blocks (log L, the log scales) by the block's name.
    /// </summary>
    public static Func<int, string> StateCoordinateNamer(OptimizerFlow flow)
    {
        ArgumentNullException.ThrowIfNull(flow);
        Func<int, int, string> name = ParameterNamer(flow);
        StateLayout layout = flow.Layout;
        return index =>
        {
            int b = 0;
            while (b + 1 < layout.BlockCount && layout.Offset(b + 1) <= index)
            {
                b++;
            }

            return name(b, index - layout.Offset(b));
        };
    }

    /// <summary>Names a coordinate of θ, m̃ or ṽ by the parameter it belongs to: W1[neuron, input] or u[neuron].</summary>
    private static Func<int, int, string> ParameterNamer(OptimizerFlow flow)
    {
        ParameterLayout parameters = flow.Parameters;
        var thetaOffset = new int[flow.Layout.BlockCount];
        Array.Fill(thetaOffset, -1);
        thetaOffset[OptimizerFlow.ThetaBlock] = 0;
        for (int p = 0; p < flow.Parts.Count; p++)
        {
            if (flow.MomentumBlock(p) >= 0)
            {
                thetaOffset[flow.MomentumBlock(p)] = flow.PartOffset(p);
            }

            if (flow.SecondMomentBlock(p) >= 0)
            {
                thetaOffset[flow.SecondMomentBlock(p)] = flow.PartOffset(p);
            }
        }

        return (b, i) =>
        {
            if (thetaOffset[b] < 0)
            {
                return flow.Layout.Blocks[b].Name;
            }

            int k = thetaOffset[b] + i;
            int pb = 0;
            while (pb + 1 < parameters.Blocks.Count && parameters.Offset(pb + 1) <= k)
            {
                pb++;
            }

            ParameterBlock block = parameters.Blocks[pb];
            int local = k - parameters.Offset(pb);
            string where = block.IsMatrix
                ? string.Create(CultureInfo.InvariantCulture, $"{block.Name}[{local / block.Cols},{local % block.Cols}]")
                : string.Create(CultureInfo.InvariantCulture, $"{block.Name}[{local}]");
            return b == OptimizerFlow.ThetaBlock ? where : $"{flow.Layout.Blocks[b].Name.Split(':')[0]}:{where}";
        };
    }
}
