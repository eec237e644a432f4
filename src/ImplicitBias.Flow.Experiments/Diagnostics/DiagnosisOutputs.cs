using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using ImplicitBias.Flow.Analysis.Diagnostics;

namespace ImplicitBias.Flow.Experiments.Diagnostics;

/// <summary>The terminal table and the JSON of <c>ibflow diagnose</c>.</summary>
public static class DiagnosisOutputs
{
    private static readonly CultureInfo Ci = CultureInfo.InvariantCulture;

    /// <summary>
    /// One JSON object: name, optimizer, method, rtol, status, finalTime and points (t, logLoss, stepSize,
    /// evaluations, modes and nonlinearModes [{re, im, magnitude, hMagnitude, credible, residual, block, shares, top}],
    /// sharpness {preconditioner, largest, smallest, residual, eta, threshold, ratio}). Non-finite numbers are null.
    /// </summary>
    public static string ToJson(DiagnosisResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var document = new
        {
            name = result.Name,
            optimizer = result.Optimizer,
            method = result.Method,
            rtol = result.RelTol,
            status = result.Status,
            finalTime = result.FinalTime,
            points = result.Points.Select(p => new
            {
                t = p.Time,
                logLoss = Finite(p.LogLoss),
                stepSize = Finite(p.StepSize),
                evaluations = p.Evaluations,
                modes = p.Modes.Select(m => Mode(m, p)).ToArray(),
                nonlinearModes = p.NonlinearModes.Select(m => Mode(m, p)).ToArray(),
                sharpness = p.Sharpness is { } s
                    ? new { preconditioner = s.Preconditioner, largest = Finite(s.Largest), smallest = Finite(s.Smallest), residual = Finite(s.Residual), eta = s.Eta, threshold = Finite(s.Threshold), ratio = Finite(s.RatioToThreshold) }
                    : null,
                pairStability = p.PairStability.Select(x => new { method = x.Method, maxStep = Finite(x.MaxStep) }).ToArray(),
            }).ToArray(),
        };
        return JsonSerializer.Serialize(document);
    }

    /// <summary>Per time: h, the sharpness line, and a table of the eigenvalues with h|λ|, blocks and top coordinates.</summary>
    public static string FormatTable(DiagnosisResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var text = new StringBuilder();
        text.AppendLine(string.Create(Ci, $"{result.Name}: {result.Optimizer}, {result.Method} at rtol {result.RelTol:0.##e+0}; the solve ended at t = {result.FinalTime:G6} ({result.Status})"));
        foreach (DiagnosisPoint p in result.Points)
        {
            text.AppendLine();
            text.AppendLine(string.Create(Ci, $"t = {p.Time:G6}   log L = {p.LogLoss:G6}   accepted step h = {p.StepSize:G4}   gradient evaluations so far {p.Evaluations}"));
            if (p.Sharpness is { } s)
            {
                text.AppendLine(string.Create(Ci, $"  sharpness λmax(P⁻¹∇²L) = {s.Largest:G4} (λmin {s.Smallest:G3}; P = {s.Preconditioner}); η = {s.Eta:G4}, η·λmax = {s.Eta * s.Largest:G4}; discrete threshold {s.Threshold:G4} (ratio {s.RatioToThreshold:G3})"));
            }

            if (p.PairStability.Count > 0 && p.Sharpness is { } ps)
            {
                text.AppendLine(string.Create(Ci, $"  θ–m pair at s = η·λmax: stable steps up to {string.Join(", ", p.PairStability.Select(x => string.Create(Ci, $"{x.Method} {x.MaxStep:G3}")))} (accepted h = {p.StepSize:G3})"));
            }

            text.AppendLine(string.Create(Ci, $"  {"#",2} {"eigenvalue λ of ∂f/∂y",28} {"|λ|",10} {"h|λ|",8} {"residual",9}  blocks (share of |x|²)          top coordinates"));
            for (int i = 0; i < p.Modes.Count; i++)
            {
                FlowMode m = p.Modes[i];
                string shares = string.Join(", ", m.BlockShares.Where(b => b.Share >= 0.01).Select(b => string.Create(Ci, $"{b.Block} {b.Share:F2}")));
                string top = string.Join(" ", m.Top.Select(c => string.Create(Ci, $"{c.Parameter}:{c.Magnitude:F2}")));
                string mark = p.IsCredible(m) ? " " : "*";
                text.AppendLine(string.Create(Ci, $"  {i + 1,2} {Format(m.Eigenvalue),28} {m.Eigenvalue.Magnitude,10:G4} {p.StepSize * m.Eigenvalue.Magnitude,8:G3}{mark}{m.Residual,9:G2}  {shares,-32} {top}"));
            }

            if (p.Modes.Concat(p.NonlinearModes).Any(m => !p.IsCredible(m)))
            {
                text.AppendLine(string.Create(Ci, $"  * not an eigenvalue of the flow along its solution: h|λ| > {DiagnosisPoint.CredibleStepTimesEigenvalue:G3} at a step the solver accepted (every stepper's stability bound is below 10) and λ is no decay −c; an artefact of the central differences (across a non-smooth point of the field, or round-off magnified by the scaling of coordinates near zero)"));
            }

            if (p.NonlinearModes.Count > 0 && !ReferenceEquals(p.NonlinearModes, p.Modes))
            {
                FlowMode n = p.NonlinearModes[0];
                text.AppendLine(string.Create(Ci, $"  without the decay −c y (what an exponential stepper treats explicitly): largest λ = {Format(n.Eigenvalue)}, h|λ| = {p.StepSize * n.Eigenvalue.Magnitude:G3}{(p.IsCredible(n) ? string.Empty : "*")}, in {n.MainBlock}"));
            }
        }

        return text.ToString();
    }

    private static string Format(Complex z) =>
        Math.Abs(z.Imaginary) < 1e-12 * Math.Max(z.Magnitude, double.Epsilon)
            ? string.Create(Ci, $"{z.Real:G4}")
            : string.Create(Ci, $"{z.Real:G4} {(z.Imaginary < 0 ? '−' : '+')} {Math.Abs(z.Imaginary):G4}i");

    private static object Mode(FlowMode m, DiagnosisPoint p) => new
    {
        re = Finite(m.Eigenvalue.Real),
        im = Finite(m.Eigenvalue.Imaginary),
        magnitude = Finite(m.Eigenvalue.Magnitude),
        hMagnitude = Finite(p.StepSize * m.Eigenvalue.Magnitude),
        credible = p.IsCredible(m),
        residual = Finite(m.Residual),
        block = m.MainBlock,
        shares = m.BlockShares.ToDictionary(b => b.Block, b => b.Share),
        top = m.Top.Select(c => new { block = c.Block, index = c.Index, parameter = c.Parameter, magnitude = c.Magnitude }).ToArray(),
    };

    private static double? Finite(double x) => double.IsFinite(x) ? x : null;
}
