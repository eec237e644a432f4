using System.Numerics.Tensors;
using ImplicitBias.Flow.Analysis.Diagnostics;
using ImplicitBias.Flow.Core.Geometry;
using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Flows.Schedules;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Networks;

namespace ImplicitBias.Flow.Analysis.Observers;

/// <summary>Counters of the solver at a saved time.</summary>
/// <param name="StepSize">The last accepted step size.</param>
/// <param name="AcceptedSteps">Accepted steps so far.</param>
/// <param name="RejectedSteps">Rejected steps so far.</param>
/// <param name="Evaluations">Right-hand-side (gradient) evaluations so far.</param>
public readonly record struct SolverCounters(double StepSize, long AcceptedSteps, long RejectedSteps, long Evaluations);

/// <summary>
/// Measures, at the saved times of a flow, the quantities the paper's theory talks about (docs/mathematics.md §6): log L,
/// ∫η, and in the ℓ2, ℓ∞, msp and the optimizer's own norm the hard margin γ (Eq. 9), the soft margin γ̃
/// (Eq. 10), the alignment ⟨θ/‖θ‖, −g/‖g‖⋆⟩ and ‖θ‖/∫η (Lemma C.10); ‖θ − θ0‖∞/∫η (Lemma B.10);
/// φ⁻¹(log 1/L)/(γ∞ ‖θ‖^L) (Lemma C.10, computed after the run with γ∞ the last hard margin); r(t) of
/// Definition 5.1 with ν = ‖dθ/dt‖ and ν = η; the momentum relations of Lemma C.19; ReLU pattern changes
/// and sign switches since the last save; the solver's counters. Everything is computed from log L and
/// g/L, so it is exact however small L is.
/// </summary>
public sealed class TrajectoryObserver
{
    private readonly OptimizerFlow _flow;
    private readonly LossEvaluator _evaluator;
    private readonly ParameterLayout _layout;
    private readonly double _degree;
    private readonly (ObservedNorm Name, Norm Norm)[] _norms;
    private readonly Norm _own;
    private readonly int[] _sameAs;
    private readonly double[] _sizes;
    private readonly double[] _duals;
    private readonly Schedule _schedule;
    private readonly double[] _theta0;
    private readonly double[] _gradient;
    private readonly double[] _derivative;
    private readonly double[] _scratch;
    private readonly double _jEpsilon;
    private readonly double[] _gap;
    private readonly List<double[]> _snapshots = [];
    private readonly LossEvaluator? _oracleEvaluator;
    private readonly bool _hasPattern;
    private sbyte[] _pattern;
    private sbyte[] _lastPattern;
    private sbyte[] _signs;
    private sbyte[] _lastSigns;
    private bool _first = true;

    /// <summary>Creates the observer.</summary>
    /// <param name="flow">The flow being integrated.</param>
    /// <param name="evaluator">A CPU evaluator of the same model and data (for margins and the ReLU pattern).</param>
    /// <param name="ownNorm">The optimizer's own norm (<see cref="ObservedNorm.Own"/>).</param>
    /// <param name="theta0">θ(0).</param>
    /// <param name="jEpsilon">ε of J_ε(t) = {j : |g_j|/‖g‖⋆ &gt; ε} in Lemma C.19.</param>
    public TrajectoryObserver(OptimizerFlow flow, LossEvaluator evaluator, Norm ownNorm, ReadOnlySpan<double> theta0, double jEpsilon = 1e-3)
    {
        ArgumentNullException.ThrowIfNull(flow);
        ArgumentNullException.ThrowIfNull(evaluator);
        ArgumentNullException.ThrowIfNull(ownNorm);
        _flow = flow;
        _evaluator = evaluator;
        _layout = flow.Parameters;
        _degree = evaluator.Network.HomogeneityDegree;
        _own = ownNorm;
        _jEpsilon = jEpsilon;
        var norms = new List<(ObservedNorm, Norm)> { (ObservedNorm.L2, Norms.L2), (ObservedNorm.LInf, Norms.LInf) };
        if (_layout.Blocks.Count > 1)
        {
            norms.Add((ObservedNorm.Msp, Norms.Msp(_layout)));
        }

        norms.Add((ObservedNorm.Own, ownNorm));
        _norms = norms.ToArray();
        _sameAs = _norms.Select((n, k) => Array.FindIndex(_norms, 0, k, e => e.Norm.Name == n.Norm.Name)).ToArray();
        _sizes = new double[_norms.Length];
        _duals = new double[_norms.Length];

        // ∫η of the part whose scale the optimizer's norm is measured in: the last part (the output row of
        // a composite, whose weight is 1 in the composite norm; the whole θ otherwise).
        _schedule = flow.Schedules[^1];
        _theta0 = theta0.ToArray();
        _gradient = new double[_layout.Length];
        _derivative = new double[flow.Layout.Length];
        _scratch = new double[_layout.Length];
        _gap = new double[_layout.Length];
        _signs = new sbyte[_layout.Length];
        _lastSigns = new sbyte[_layout.Length];

        // When the flow's oracle is the CPU evaluator of the model, its forward pass at the saved θ (made by
        // the flow evaluation below) already holds the margins and preactivations: reading them there saves
        // a forward pass per save (the observer's cost budget: at most 10 % of a solve at the default save density).
        _oracleEvaluator = flow.Oracle is ModelOracle model && ReferenceEquals(model.Evaluator.Network, evaluator.Network) && ReferenceEquals(model.Evaluator.Data, evaluator.Data) ? model.Evaluator : null;
        FullyConnectedNetwork net = evaluator.Network;
        _hasPattern = net.Depth > 1 && net.Activation.Kind is ActivationKind.Relu or ActivationKind.ReluPower;
        int patternLength = _hasPattern ? ActivationPattern.Length(net, evaluator.Data.Count) : 0;
        _pattern = new sbyte[patternLength];
        _lastPattern = new sbyte[patternLength];
    }

    /// <summary>The observations, one per <see cref="Observe"/>.</summary>
    public Trajectory Trajectory { get; private set; } = new();

    /// <summary>
    /// Lanczos steps for the preconditioned sharpness at every save (<see cref="PreconditionedSharpness"/>, two gradient
    /// evaluations each, outside the solver's count); 0 (the default) records none. A flow without a preconditioner
    /// (sign, polar and composite flows) records NaN.
    /// </summary>
    public int SharpnessDimension { get; init; }

    /// <summary>The solver's counters after its last accepted step (what a save between steps reports).</summary>
    public SolverCounters LastStep { get; set; }

    /// <summary>The time of the last observation, or NaN before the first.</summary>
    public double LastObservedTime => Trajectory.Last?.Time ?? double.NaN;

    /// <summary>
    /// Writes everything the observer carries from one save to the next (the observations, the θ snapshots, the last
    /// activation pattern and signs, the last step's counters), so that a resumed run observes exactly as an
    /// uninterrupted one.
    /// </summary>
    public void WriteState(BinaryWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        TrajectoryFormat.WriteTo(Trajectory, writer);
        writer.Write(_snapshots.Count);
        foreach (double[] snapshot in _snapshots)
        {
            writer.Write(snapshot.Length);
            foreach (double v in snapshot)
            {
                writer.Write(v);
            }
        }

        WriteSigns(writer, _lastPattern);
        WriteSigns(writer, _lastSigns);
        writer.Write(_first);
        writer.Write(LastStep.StepSize);
        writer.Write(LastStep.AcceptedSteps);
        writer.Write(LastStep.RejectedSteps);
        writer.Write(LastStep.Evaluations);
    }

    /// <summary>Restores the state written by <see cref="WriteState"/> (same flow, model and θ(0)).</summary>
    public void ReadState(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        Trajectory = TrajectoryFormat.ReadFrom(reader);

        // The observations of one trajectory have one shape: a run that started without the sharpness column cannot go
        // on with it (config.json edited between the interruption and the resume), nor the other way round.
        if (Trajectory.Count > 0 && (Trajectory[0].Sharpness is null) != (SharpnessDimension == 0))
        {
            bool recorded = Trajectory[0].Sharpness is not null;
            throw new InvalidDataException($"the run started with Save:Sharpness = {(recorded ? "true" : "false")} and config.json now says {(recorded ? "false" : "true")}; set it back to resume");
        }

        _snapshots.Clear();
        int count = reader.ReadInt32();
        for (int i = 0; i < count; i++)
        {
            var snapshot = new double[reader.ReadInt32()];
            for (int j = 0; j < snapshot.Length; j++)
            {
                snapshot[j] = reader.ReadDouble();
            }

            _snapshots.Add(snapshot);
        }

        ReadSigns(reader, _lastPattern);
        ReadSigns(reader, _lastSigns);
        _first = reader.ReadBoolean();
        LastStep = new SolverCounters(reader.ReadDouble(), reader.ReadInt64(), reader.ReadInt64(), reader.ReadInt64());
    }

    private static void WriteSigns(BinaryWriter writer, sbyte[] values)
    {
        writer.Write(values.Length);
        foreach (sbyte v in values)
        {
            writer.Write(v);
        }
    }

    private static void ReadSigns(BinaryReader reader, sbyte[] values)
    {
        int length = reader.ReadInt32();
        if (length != values.Length)
        {
            throw new InvalidDataException($"The checkpoint's pattern has {length} entries; this model has {values.Length}.");
        }

        for (int i = 0; i < length; i++)
        {
            values[i] = reader.ReadSByte();
        }
    }

    /// <summary>θ at every observed time, in order.</summary>
    public IReadOnlyList<double[]> Snapshots => _snapshots;

    /// <summary>Records one row at time <paramref name="t"/> with flow state <paramref name="y"/>.</summary>
    public void Observe(double t, ReadOnlySpan<double> y, in SolverCounters counters)
    {
        ReadOnlySpan<double> theta = _flow.Theta(y);

        // One gradient evaluation serves ∇log L, dθ/dt (for r(t), Definition 5.1) and, with the CPU oracle,
        // the margins and the ReLU pattern of its forward pass; another oracle (ILGPU) costs one extra
        // forward pass of the CPU evaluator here.
        _flow.Evaluate(t, y, _derivative);
        _flow.LastRelativeGradient.CopyTo(_gradient);
        double logLoss = _flow.LastLogLoss;
        LossEvaluator forward = _oracleEvaluator ?? _evaluator;
        if (_oracleEvaluator is null)
        {
            _evaluator.EvaluateLoss(theta);
        }

        double qMin = forward.MinMargin;
        double integral = _schedule.Integral(t);

        // φ⁻¹(log 1/L), defined when log 1/L > φ(0) (Eq. 10).
        double phiInverse = -logLoss > _evaluator.Loss.Phi(0) ? _evaluator.Loss.PhiInverse(-logLoss) : double.NaN;
        double ownGradientDual = double.NaN;
        var norms = new NormObservation[_norms.Length];
        for (int k = 0; k < _norms.Length; k++)
        {
            (ObservedNorm name, Norm norm) = _norms[k];

            // The own norm is often one of ℓ2, ℓ∞, msp: reuse those values (msp costs two SVDs per block).
            int same = _sameAs[k];
            double size = same >= 0 ? _sizes[same] : norm.Value(theta);
            double gradientDual = same >= 0 ? _duals[same] : norm.Dual.Value(_gradient);
            _sizes[k] = size;
            _duals[k] = gradientDual;
            ownGradientDual = gradientDual; // the own norm is the last entry
            double sizeL = Math.Pow(size, _degree);
            norms[k] = new NormObservation(
                name,
                HardMargin: qMin / sizeL,
                SoftMargin: phiInverse / sizeL,
                Alignment: -TensorPrimitives.Dot(theta, _gradient) / (size * gradientDual),
                NormOverEtaIntegral: integral > 0 ? size / integral : double.NaN,
                Size: size);
        }

        TensorPrimitives.Subtract(theta, _theta0, _scratch);
        double drift = integral > 0 ? Math.Abs(TensorPrimitives.MaxMagnitude(_scratch)) / integral : double.NaN;

        // Definition 5.1: r(t) = ⟨(1/ν) dθ/dt, −g/‖g‖⋆⟩ in the optimizer's norm, with ν = ‖dθ/dt‖ and ν = η.
        ReadOnlySpan<double> thetaDot = ((ReadOnlySpan<double>)_derivative)[.._layout.Length];
        double pairing = -TensorPrimitives.Dot(thetaDot, _gradient) / ownGradientDual;
        double speed = _own.Value(thetaDot);
        PartObservation[] parts = MomentumRelations(y, logLoss);
        SourceSigns(y);
        (int? patternChanges, int signSwitches) = PatternChanges(forward);
        SharpnessObservation? sharpness = null;
        if (SharpnessDimension > 0)
        {
            // After everything that reads the forward pass at θ: Lanczos evaluates the oracle at θ ± δu. Then the flow is
            // evaluated at y again, so that what the solver reads of its last evaluation is what it was without this.
            SharpnessResult? s = PreconditionedSharpness.Compute(_flow, t, y, SharpnessDimension);
            sharpness = new SharpnessObservation(s?.Largest ?? double.NaN, s?.Threshold ?? double.NaN);
            _flow.Evaluate(t, y, _derivative);
        }

        Trajectory.Add(new Observation
        {
            Time = t,
            LogLoss = logLoss,
            Sigma = _flow.LogLoss(y),
            EtaIntegral = integral,
            Eta = _schedule.Eta(t),
            Counters = counters,
            MinMargin = qMin,
            PhiInverse = phiInverse,
            Norms = norms,
            DriftLInfOverEtaIntegral = drift,
            Speed = speed,
            RSpeed = speed > 0 ? pairing / speed : double.NaN,
            REta = pairing / _schedule.Eta(t),
            Parts = parts,
            PatternChanges = patternChanges,
            SignSwitches = signSwitches,
            Sharpness = sharpness,
        });
        _first = false;
        _snapshots.Add(theta.ToArray());
    }

    /// <summary>
    /// After the run: the cosine of every saved θ to the last one against t/t_last (Fig. 1b), the ratio of
    /// Lemma C.10 with γ∞ the last hard margin, and whether γ̃ never decreased once L &lt; ℓ(0) (Theorem 3.1).
    /// </summary>
    public PostRunSummary Finish()
    {
        Trajectory trajectory = Trajectory;
        int rows = trajectory.Count;
        if (rows == 0)
        {
            return new PostRunSummary(double.NaN, true, double.NaN);
        }

        double[] last = _snapshots[^1];
        double lastNorm = TensorPrimitives.Norm(last);
        Observation final = trajectory.Last!;
        double tLast = final.Time;
        var cosine = new double[rows];
        for (int i = 0; i < rows; i++)
        {
            cosine[i] = TensorPrimitives.Dot(_snapshots[i], last) / (TensorPrimitives.Norm(_snapshots[i]) * lastNorm);
        }

        // The post-run values (they need the whole trajectory): Lemma C.10's ratio with γ∞ the last hard margin per norm.
        double[] gammaInf = final.Norms.Select(n => n.HardMargin).ToArray();
        trajectory.Finish((i, o) => o with
        {
            CosineToLast = cosine[i],
            TimeOverLast = o.Time / tLast,
            Norms = o.Norms.Select((n, k) => n with { LemmaC10Ratio = o.PhiInverse / (gammaInf[k] * Math.Pow(n.Size, _degree)) }).ToArray(),
        });

        // Theorem 3.1: γ̃ non-decreasing once L < ℓ(0), i.e. log L < log ℓ(0). Allow round-off (1e-9 relative).
        double logLossAtZero = _evaluator.Loss.LogValue(0);
        bool monotone = true;
        double previous = double.NegativeInfinity;
        foreach (Observation o in trajectory)
        {
            double soft = o.Own.SoftMargin;
            if (!(o.LogLoss < logLossAtZero) || double.IsNaN(soft))
            {
                continue;
            }

            if (soft < previous - (1e-9 * Math.Abs(previous)))
            {
                monotone = false;
            }

            previous = Math.Max(previous, soft);
        }

        double secondHalfMinCosine = Enumerable.Range(0, rows).Where(i => trajectory[i].Time >= tLast / 2).Select(i => cosine[i]).DefaultIfEmpty(double.NaN).Min();
        return new PostRunSummary(secondHalfMinCosine, monotone, final.Own.HardMargin);
    }

    private PartObservation[] MomentumRelations(ReadOnlySpan<double> y, double logLoss)
    {
        var parts = new List<PartObservation>();
        for (int p = 0; p < _flow.Parts.Count; p++)
        {
            int mb = _flow.MomentumBlock(p);
            if (mb < 0)
            {
                continue;
            }

            OptimizerPart part = _flow.Parts[p];
            int offset = part.Offset(_layout), length = part.Length(_layout);
            ReadOnlySpan<double> g = ((ReadOnlySpan<double>)_gradient).Slice(offset, length);
            ReadOnlySpan<double> m = y.Slice(_flow.Layout.Offset(mb), length);
            string? partName = PartName(p);

            // m = m̃ e^{λ_m} and g = e^{ℓ} ∇log L, so ‖m‖/‖g‖ = e^{λ_m−ℓ} ‖m̃‖/‖∇log L‖. The dual of the part's
            // geometry: ℓ1 for sign/Adam (ℓ∞ steepest descent), ℓ2 otherwise (Lemma C.19 in that norm).
            Norm dual = part.Definition.OwnNorm == OwnNormKind.LInf ? Norms.L1 : Norms.L2;
            double scale = Math.Exp(_flow.MomentumLogScale(p, y) - logLoss);
            double gNorm = dual.Value(g), mNorm = dual.Value(m);
            double ratio = scale * mNorm / gNorm;
            double gap = DirectionGap(m, mNorm, g, gNorm, dual, _gap);
            int inSet = 0, close = 0;
            for (int j = 0; j < length; j++)
            {
                if (Math.Abs(g[j]) / gNorm > _jEpsilon)
                {
                    inSet++;
                    if (Math.Abs((scale * m[j] / g[j]) - 1) < 0.01)
                    {
                        close++;
                    }
                }
            }

            double share = inSet == 0 ? double.NaN : (double)close / inSet;
            SecondMomentObservation? second = null;
            int vb = _flow.SecondMomentBlock(p);
            if (vb >= 0)
            {
                ReadOnlySpan<double> v = y.Slice(_flow.Layout.Offset(vb), length);
                Span<double> g2 = _scratch.AsSpan(0, length);
                TensorPrimitives.Multiply(g, g, g2);
                double g2Norm = Norms.L1.Value(g2), vNorm = Norms.L1.Value(v);
                second = new SecondMomentObservation(
                    Ratio: Math.Exp(_flow.SecondMomentLogScale(p, y) - (2 * logLoss)) * vNorm / g2Norm,
                    DirectionGap: DirectionGap(v, vNorm, g2, g2Norm, Norms.L1, _gap));
            }

            parts.Add(new PartObservation(partName, ratio, gap, share, second));
        }

        return parts.ToArray();
    }

    /// <summary>
    /// The name of part <paramref name="p"/> in the per-part values: null for a one-part flow, the optimizer's name in a
    /// composite, and the name with the part's number (muon1, muon2) when two parts run the same optimizer (say Muon on
    /// the matrices and on the output row), so that each part keeps its own columns.
    /// </summary>
    private string? PartName(int p)
    {
        IReadOnlyList<OptimizerPart> parts = _flow.Parts;
        if (parts.Count == 1)
        {
            return null;
        }

        string name = parts[p].Name;
        return parts.Count(q => q.Name == name) > 1 ? $"{name}{p + 1}" : name;
    }

    private static double DirectionGap(ReadOnlySpan<double> a, double aNorm, ReadOnlySpan<double> b, double bNorm, Norm norm, double[] scratch)
    {
        if (aNorm == 0 || bNorm == 0)
        {
            return double.NaN;
        }

        Span<double> diff = scratch.AsSpan(0, a.Length);
        for (int j = 0; j < a.Length; j++)
        {
            diff[j] = (a[j] / aNorm) - (b[j] / bNorm);
        }

        return norm.Value(diff);
    }

    private (int? PatternChanges, int SignSwitches) PatternChanges(LossEvaluator forward)
    {
        // ReLU activation pattern of every hidden unit on every sample (from the forward pass at this θ),
        // compared with the last save (a lower bound on the switches in between). Only kink activations
        // (ReLU, ReLU^q) have a pattern. The buffers are swapped, not reallocated.
        int? patternChanges = null;
        if (_hasPattern)
        {
            ActivationPattern.FromLastForward(forward, _pattern);
            patternChanges = _first ? 0 : Changes(_pattern, _lastPattern);
            (_pattern, _lastPattern) = (_lastPattern, _pattern);
        }

        int signSwitches = _first ? 0 : Changes(_signs, _lastSigns);
        (_signs, _lastSigns) = (_lastSigns, _signs);
        return (patternChanges, signSwitches);
    }

    private void SourceSigns(ReadOnlySpan<double> y)
    {
        // Sign switches of the direction's source: m in parts with momentum, g elsewhere.
        for (int j = 0; j < _signs.Length; j++)
        {
            _signs[j] = SignOf(_gradient[j]);
        }

        for (int p = 0; p < _flow.Parts.Count; p++)
        {
            int mb = _flow.MomentumBlock(p);
            if (mb < 0)
            {
                continue;
            }

            int offset = _flow.Parts[p].Offset(_layout), length = _flow.Parts[p].Length(_layout);
            ReadOnlySpan<double> m = y.Slice(_flow.Layout.Offset(mb), length);
            for (int j = 0; j < length; j++)
            {
                _signs[offset + j] = SignOf(m[j]);
            }
        }
    }

    /// <summary>The sign as −1, 0, 1; NaN (a state that went non-finite, observed at a failed run's end) counts as 0.</summary>
    private static sbyte SignOf(double x) => x > 0 ? (sbyte)1 : x < 0 ? (sbyte)-1 : (sbyte)0;

    private static int Changes(sbyte[] a, sbyte[] b)
    {
        int n = 0;
        for (int i = 0; i < a.Length; i++)
        {
            n += a[i] != b[i] ? 1 : 0;
        }

        return n;
    }
}

/// <summary>What the observer concludes after a run.</summary>
/// <param name="SecondHalfMinCosine">The smallest cosine to the last iterate over t ≥ t_last/2 (Fig. 1b).</param>
/// <param name="SoftMarginMonotone">γ̃ never decreased once L &lt; ℓ(0) (Theorem 3.1).</param>
/// <param name="FinalHardMargin">γ in the optimizer's norm at the end.</param>
public sealed record PostRunSummary(double SecondHalfMinCosine, bool SoftMarginMonotone, double FinalHardMargin);
