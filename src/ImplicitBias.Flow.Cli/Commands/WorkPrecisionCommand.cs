using System.Globalization;
using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.WorkPrecision;

namespace ImplicitBias.Flow.Cli.Commands;

/// <summary>
/// <c>ibflow work-precision EXPERIMENT.json [--methods M1,M2] [--rtols 1e-4,1e-6] [--reference M1,M2] [--reference-rtol R]
/// [--json] [--out DIR] [--Key:Sub=value …]</c>: cost against error of each stepper and tolerance. See <see cref="WorkPrecisionStudy"/>.
/// </summary>
internal sealed class WorkPrecisionCommand : ICommand
{
    /// <inheritdoc />
    public string Name => "work-precision";

    /// <inheritdoc />
    public string Summary => "Gradient evaluations against the error of margins, alignment and direction, per stepper and tolerance.";

    /// <inheritdoc />
    public int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        if (CommandLine.WantsHelp(args))
        {
            PrintHelp(output);
            return 0;
        }

        var line = new CommandLine(args, ["--methods", "--rtols", "--reference", "--reference-rtol", "--out", "--precisions"], ["--json"], Name);
        string path = line.SingleExperiment("ibflow work-precision EXPERIMENT.json [options] (see ibflow work-precision --help).");
        bool json = line.Has("--json");
        var options = new WorkPrecisionOptions();
        if (line.Value("--methods") is { } methods)
        {
            options = options with { Methods = List(methods) };
        }

        if (line.Value("--reference") is { } reference)
        {
            string[] r = List(reference);
            options = r.Length is 1 or 2 ? options with { ReferenceMethods = r } : throw new UserError($"--reference '{reference}' names one or two methods (the reference and its check), e.g. --reference dop853,tsit5.");
        }

        if (line.Value("--precisions") is { } precisions)
        {
            options = options with { Precisions = List(precisions) };
        }

        if (line.Value("--rtols") is { } rtols)
        {
            options = options with { RelTols = Numbers("--rtols", rtols) };
        }

        if (line.Value("--reference-rtol") is { } referenceRtol)
        {
            double[] r = Numbers("--reference-rtol", referenceRtol);
            options = r.Length == 1 ? options with { ReferenceRelTol = r[0] } : throw new UserError($"--reference-rtol '{referenceRtol}' must be one number, e.g. 1e-10.");
        }

        if (options.Problem() is string problem)
        {
            throw new UserError($"{problem}.");
        }

        ExperimentSettings settings;
        try
        {
            settings = ExperimentLoader.Load(path, line.Overrides);
        }
        catch (ExperimentException e)
        {
            throw new UserError(e.Message);
        }

        foreach (string warning in settings.Warnings)
        {
            error.WriteLine($"warning: {warning}");
        }

        WorkPrecisionResult result;
        try
        {
            result = WorkPrecisionStudy.Run(settings, options, error);
        }
        catch (ExperimentException e)
        {
            throw new UserError(e.Message);
        }

        string directory = line.Value("--out") ?? ExperimentFiles.FreshRunDirectory($"{settings.Name}-work-precision");
        WorkPrecisionOutputs.WriteAll(result, directory);
        if (json)
        {
            output.WriteLine(WorkPrecisionOutputs.ToJson(result));
            return 0;
        }

        output.Write(WorkPrecisionOutputs.FormatTable(result));
        output.WriteLine($"Wrote {WorkPrecisionOutputs.JsonFile} and {string.Join(", ", WorkPrecisionOutputs.PlotFiles)} to {directory}.");
        return 0;
    }

    private static string[] List(string text) => text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    private static double[] Numbers(string option, string text)
    {
        string[] parts = List(text);
        var values = new double[parts.Length];
        for (int k = 0; k < parts.Length; k++)
        {
            if (!double.TryParse(parts[k], NumberStyles.Float, CultureInfo.InvariantCulture, out values[k]))
            {
                throw new UserError($"{option} '{text}' must be a comma-separated list of numbers, e.g. {option} 1e-4,1e-6; '{parts[k]}' is not one.");
            }
        }

        return values;
    }

    private static void PrintHelp(TextWriter output)
    {
        output.WriteLine("Usage: ibflow work-precision EXPERIMENT.json [--methods M1,M2,…] [--rtols R1,R2,…] [--reference M1,M2]");
        output.WriteLine("                             [--reference-rtol R] [--precisions LIST] [--json] [--out DIR] [--Key:Sub=value …]");
        output.WriteLine();
        output.WriteLine("Solves the experiment's first optimizer (first seed) as a flow with each method at each relative tolerance");
        output.WriteLine("(atol and the moments' block scale κ keep the experiment's ratios to rtol, so the experiment's own tolerances");
        output.WriteLine("are the run at its rtol; Stop:TargetLoss, MaxTime and MaxSteps apply to every solve) and");
        output.WriteLine("reports its cost (gradient evaluations, accepted and rejected steps, wall time) against its error, relative to a");
        output.WriteLine("reference solve, in what a researcher reads: the final ℓ∞ and ℓ2 hard margins (relative), the final alignment in");
        output.WriteLine("the optimizer's norm, θ/‖θ‖ at the save times (5 per decade of t; largest ℓ2 distance) and the time the target");
        output.WriteLine("loss is reached (relative). The reference is solved twice, by two different methods at a tight tolerance, and");
        output.WriteLine("their disagreement is printed first: errors below it are not resolved.");
        output.WriteLine();
        output.WriteLine($"  --methods LIST        steppers (default {string.Join(",", WorkPrecisionOptions.DefaultMethods)}; auto allowed)");
        output.WriteLine($"  --rtols LIST          relative tolerances (default {string.Join(",", WorkPrecisionOptions.DefaultRelTols.Select(r => r.ToString("0.#e+0", CultureInfo.InvariantCulture)))})");
        output.WriteLine("  --reference M1,M2     the reference method and its check (default dop853,tsit5)");
        output.WriteLine("  --reference-rtol R    their tolerance (default 1e-10)");
        output.WriteLine("  --precisions LIST     gradient precisions of the solves, e.g. float64,float32 (default: Solver:Precision);");
        output.WriteLine("                        the reference is float64, so float32 rows show what the float32 gradient costs");
        output.WriteLine("  --out DIR             output folder (default runs/<name>-work-precision/, never overwritten)");
        output.WriteLine("  --json                print the JSON object and nothing else on stdout");
        output.WriteLine();
        output.WriteLine($"Writes {WorkPrecisionOutputs.JsonFile} and the log–log plots {string.Join(", ", WorkPrecisionOutputs.PlotFiles)}.");
    }
}
