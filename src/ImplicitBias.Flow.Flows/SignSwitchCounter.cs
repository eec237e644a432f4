namespace ImplicitBias.Flow.Flows;

/// <summary>
/// Counts sign switches of the optimizer's source along a run: the gradient (for gd, ngd, signgd, spectral)
/// or the momentum m (every part with momentum). The sign of m̃ = m e^{−σ} is that of m. Feed it the states
/// of consecutive accepted steps (<see cref="Observe"/> as <see cref="FlowSolveOptions.OnSave"/> with
/// <c>SaveAt.EveryStep()</c>); a coordinate that changes sign between two of them counts one switch, a zero
/// is skipped (the sign before it is kept). Switches are where a sign-type flow is non-smooth (Sec. 3 of the
/// paper: SignGD/Signum/Adam flows are only piecewise smooth), so the count says how often the smoothed
/// sign's boundary layer was crossed and whether a run chatters (many switches) or crosses cleanly.
/// </summary>
public sealed class SignSwitchCounter
{
    private readonly OptimizerFlow _flow;
    private readonly int[] _lastSign;
    private readonly long[] _switches;
    private readonly double[] _gradient;

    /// <summary>Creates a counter for every parameter of <paramref name="flow"/>.</summary>
    public SignSwitchCounter(OptimizerFlow flow)
    {
        _flow = flow ?? throw new ArgumentNullException(nameof(flow));
        int n = flow.Parameters.Length;
        _lastSign = new int[n];
        _switches = new long[n];
        _gradient = new double[n];
    }

    /// <summary>Total switches over all coordinates.</summary>
    public long Switches => _switches.Sum();

    /// <summary>Switches per parameter coordinate.</summary>
    public IReadOnlyList<long> SwitchesPerCoordinate => _switches;

    /// <summary>Number of states observed.</summary>
    public long Observations { get; private set; }

    /// <summary>Observes the flow state <paramref name="y"/> at time <paramref name="t"/>.</summary>
    public void Observe(double t, double[] y)
    {
        ArgumentNullException.ThrowIfNull(y);
        bool needsGradient = false;
        for (int i = 0; i < _flow.Parts.Count; i++)
        {
            needsGradient |= !_flow.Parts[i].HasMomentum;
        }

        if (needsGradient)
        {
            // Between steps the oracle is free; its own buffer of the flow is not touched.
            _flow.Oracle.Evaluate(_flow.Theta(y), _gradient);
        }

        for (int i = 0; i < _flow.Parts.Count; i++)
        {
            int offset = _flow.PartOffset(i), length = _flow.PartLength(i);

            // At t = 0, m = 0 and the direction is taken from g(0) (docs/mathematics.md §2); m's own signs start once it is nonzero.
            ReadOnlySpan<double> source = _flow.Parts[i].HasMomentum
                ? ((ReadOnlySpan<double>)y).Slice(_flow.Layout.Offset(_flow.MomentumBlock(i)), length)
                : ((ReadOnlySpan<double>)_gradient).Slice(offset, length);
            for (int j = 0; j < length; j++)
            {
                int sign = source[j] > 0 ? 1 : source[j] < 0 ? -1 : 0; // NaN counts as no sign
                ref int last = ref _lastSign[offset + j];
                if (sign != 0)
                {
                    if (last != 0 && sign != last)
                    {
                        _switches[offset + j]++;
                    }

                    last = sign;
                }
            }
        }

        Observations++;
    }
}
