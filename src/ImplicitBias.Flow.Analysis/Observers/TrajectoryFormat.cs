using ImplicitBias.Flow.Core.IO;
using C = ImplicitBias.Flow.Analysis.Observers.TrajectoryColumns;

namespace ImplicitBias.Flow.Analysis.Observers;

/// <summary>A column of the trajectory table: its name and how an observation gives its value.</summary>
/// <param name="Name">The column's name in trajectory.csv (and in a checkpoint).</param>
/// <param name="Value">The value of an observation in this column.</param>
public sealed record TrajectoryColumn(string Name, Func<Observation, double> Value);

/// <summary>
/// The one mapping between <see cref="Observation"/>s and the trajectory table (trajectory.csv, the checkpoint's copy):
/// the column names and their order come from the observation's shape (its norms, its parts, whether the model has an
/// activation pattern, whether the run is finished), named through <see cref="TrajectoryColumns"/>. Everything that
/// writes or reads a trajectory goes through here; every other reader works on the typed observations.
/// </summary>
public static class TrajectoryFormat
{
    /// <summary>The suffix of <paramref name="norm"/>'s per-norm columns (l2, linf, msp, own).</summary>
    public static string Suffix(ObservedNorm norm) => norm switch
    {
        ObservedNorm.L2 => "l2",
        ObservedNorm.LInf => "linf",
        ObservedNorm.Msp => "msp",
        _ => C.Own,
    };

    /// <summary>The columns of a trajectory, in order (none when it is empty).</summary>
    public static IReadOnlyList<TrajectoryColumn> Columns(Trajectory trajectory)
    {
        ArgumentNullException.ThrowIfNull(trajectory);
        return trajectory.Count == 0 ? [] : Columns(trajectory[0], trajectory.Finished);
    }

    /// <summary>The columns of a trajectory whose observations have the shape of <paramref name="shape"/>, in order.</summary>
    /// <param name="shape">Any observation of the trajectory.</param>
    /// <param name="finished">Whether the post-run columns are included.</param>
    public static IReadOnlyList<TrajectoryColumn> Columns(Observation shape, bool finished)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var columns = new List<TrajectoryColumn>
        {
            new(C.Time, o => o.Time),
            new(C.LogLoss, o => o.LogLoss),
            new(C.Sigma, o => o.Sigma),
            new(C.EtaIntegral, o => o.EtaIntegral),
            new(C.Eta, o => o.Eta),
            new(C.StepSize, o => o.Counters.StepSize),
            new(C.AcceptedSteps, o => o.Counters.AcceptedSteps),
            new(C.RejectedSteps, o => o.Counters.RejectedSteps),
            new(C.RhsEvaluations, o => o.Counters.Evaluations),
            new(C.MinMargin, o => o.MinMargin),
            new(C.PhiInverse, o => o.PhiInverse),
        };
        for (int k = 0; k < shape.Norms.Count; k++)
        {
            int n = k;
            string s = Suffix(shape.Norms[k].Norm);
            columns.Add(new(C.HardMargin(s), o => o.Norms[n].HardMargin));
            columns.Add(new(C.SoftMargin(s), o => o.Norms[n].SoftMargin));
            columns.Add(new(C.Alignment(s), o => o.Norms[n].Alignment));
            columns.Add(new(C.NormOverEtaIntegral(s), o => o.Norms[n].NormOverEtaIntegral));
            columns.Add(new(C.Norm(s), o => o.Norms[n].Size));
        }

        columns.Add(new(C.DriftLinfOverEtaIntegral, o => o.DriftLInfOverEtaIntegral));
        columns.Add(new(C.Speed, o => o.Speed));
        columns.Add(new(C.RSpeed, o => o.RSpeed));
        columns.Add(new(C.REta, o => o.REta));
        for (int k = 0; k < shape.Parts.Count; k++)
        {
            int p = k;
            string? part = shape.Parts[k].Part;
            columns.Add(new(C.MomentumRatio(part), o => o.Parts[p].MomentumRatio));
            columns.Add(new(C.MomentumDirectionGap(part), o => o.Parts[p].MomentumDirectionGap));
            columns.Add(new(C.MomentumCoordinateShare(part), o => o.Parts[p].MomentumCoordinateShare));
            if (shape.Parts[k].SecondMoment is not null)
            {
                columns.Add(new(C.SecondMomentRatio(part), o => o.Parts[p].SecondMoment!.Ratio));
                columns.Add(new(C.SecondMomentDirectionGap(part), o => o.Parts[p].SecondMoment!.DirectionGap));
            }
        }

        if (shape.PatternChanges.HasValue)
        {
            columns.Add(new(C.PatternChanges, o => o.PatternChanges!.Value));
        }

        columns.Add(new(C.SignSwitches, o => o.SignSwitches));
        if (shape.Sharpness is not null)
        {
            columns.Add(new(C.Sharpness, o => o.Sharpness!.Largest));
            columns.Add(new(C.SharpnessThreshold, o => o.Sharpness!.Threshold));
        }

        if (finished)
        {
            columns.Add(new(C.CosineToLast, o => o.CosineToLast));
            columns.Add(new(C.TimeOverLast, o => o.TimeOverLast));
            for (int k = 0; k < shape.Norms.Count; k++)
            {
                int n = k;
                columns.Add(new(C.LemmaC10Ratio(Suffix(shape.Norms[k].Norm)), o => o.Norms[n].LemmaC10Ratio));
            }
        }

        return columns;
    }

    /// <summary>The trajectory as a CSV table (trajectory.csv).</summary>
    public static CsvTableWriter ToCsv(Trajectory trajectory)
    {
        var csv = new CsvTableWriter();
        foreach (TrajectoryColumn column in Columns(trajectory))
        {
            csv.AddColumn(column.Name, trajectory.Values(column.Value));
        }

        return csv;
    }

    /// <summary>Writes trajectory.csv (atomically).</summary>
    public static void WriteCsv(Trajectory trajectory, string path) => ToCsv(trajectory).Write(path);

    /// <summary>Reads a trajectory.csv written by <see cref="WriteCsv"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a CSV table, or its columns are not a trajectory's.</exception>
    public static Trajectory ReadCsv(string path)
    {
        CsvTable table = CsvTable.Read(path);
        try
        {
            return FromColumns(table.Columns, table.RowCount, table.Column);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"'{path}': {e.Message}", e);
        }
    }

    /// <summary>Writes the whole trajectory (column names and values, bit for bit) for a checkpoint.</summary>
    public static void WriteTo(Trajectory trajectory, BinaryWriter writer)
    {
        ArgumentNullException.ThrowIfNull(trajectory);
        ArgumentNullException.ThrowIfNull(writer);
        IReadOnlyList<TrajectoryColumn> columns = Columns(trajectory);
        writer.Write(trajectory.Count);
        writer.Write(columns.Count);
        foreach (TrajectoryColumn column in columns)
        {
            writer.Write(column.Name);
            foreach (Observation o in trajectory)
            {
                writer.Write(column.Value(o));
            }
        }
    }

    /// <summary>Reads a trajectory written by <see cref="WriteTo"/>.</summary>
    /// <exception cref="InvalidDataException">The columns are not a trajectory's.</exception>
    public static Trajectory ReadFrom(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        int rows = reader.ReadInt32(), count = reader.ReadInt32();
        var names = new List<string>(count);
        var values = new Dictionary<string, double[]>(StringComparer.Ordinal);
        for (int c = 0; c < count; c++)
        {
            string name = reader.ReadString();
            var column = new double[rows];
            for (int r = 0; r < rows; r++)
            {
                column[r] = reader.ReadDouble();
            }

            names.Add(name);
            values[name] = column;
        }

        return FromColumns(names, rows, n => values[n]);
    }

    /// <summary>
    /// The trajectory held by named columns (a table written by <see cref="ToCsv"/> or <see cref="WriteTo"/>): its shape is
    /// read from the names, and the names must be exactly those <see cref="Columns(Observation, bool)"/> gives that shape.
    /// </summary>
    /// <param name="names">The column names in order.</param>
    /// <param name="rows">The number of rows.</param>
    /// <param name="column">The values of a named column.</param>
    /// <exception cref="InvalidDataException">The names are not a trajectory's columns.</exception>
    public static Trajectory FromColumns(IReadOnlyList<string> names, int rows, Func<string, IReadOnlyList<double>> column)
    {
        ArgumentNullException.ThrowIfNull(names);
        ArgumentNullException.ThrowIfNull(column);
        var trajectory = new Trajectory();
        if (names.Count == 0 && rows == 0)
        {
            return trajectory;
        }

        var has = new HashSet<string>(names, StringComparer.Ordinal);
        if (!has.Contains(C.Time) || !has.Contains(C.LogLoss))
        {
            throw new InvalidDataException($"no columns {C.Time} and {C.LogLoss} (columns: {(names.Count == 0 ? "none" : string.Join(", ", names))}); it is not a trajectory written by ibflow run");
        }

        if (rows == 0)
        {
            return trajectory;
        }

        ObservedNorm[] norms = Enum.GetValues<ObservedNorm>().Where(n => has.Contains(C.HardMargin(Suffix(n)))).ToArray();
        (string? Part, bool SecondMoment)[] parts = C.PerPartColumns(names, C.MomentumRatio).Select(p => (p.Part, has.Contains(C.SecondMomentRatio(p.Part)))).ToArray();
        bool pattern = has.Contains(C.PatternChanges), finished = has.Contains(C.CosineToLast), sharp = has.Contains(C.Sharpness);
        IReadOnlyList<double> Column(string name) => has.Contains(name)
            ? column(name)
            : throw new InvalidDataException($"no column {name}, which a trajectory with columns {string.Join(", ", names)} has");

        IReadOnlyList<double> t = Column(C.Time), logLoss = Column(C.LogLoss), sigma = Column(C.Sigma), etaIntegral = Column(C.EtaIntegral), eta = Column(C.Eta);
        IReadOnlyList<double> stepSize = Column(C.StepSize), accepted = Column(C.AcceptedSteps), rejected = Column(C.RejectedSteps), evaluations = Column(C.RhsEvaluations);
        IReadOnlyList<double> minMargin = Column(C.MinMargin), phiInverse = Column(C.PhiInverse), drift = Column(C.DriftLinfOverEtaIntegral);
        IReadOnlyList<double> speed = Column(C.Speed), rSpeed = Column(C.RSpeed), rEta = Column(C.REta), signs = Column(C.SignSwitches);
        IReadOnlyList<double>? changes = pattern ? Column(C.PatternChanges) : null;
        IReadOnlyList<double>? sharpness = sharp ? Column(C.Sharpness) : null, threshold = sharp ? Column(C.SharpnessThreshold) : null;
        IReadOnlyList<double>? cosine = finished ? Column(C.CosineToLast) : null, tOver = finished ? Column(C.TimeOverLast) : null;
        IReadOnlyList<double>[][] perNorm = norms.Select(n => Suffix(n)).Select(s => new[]
        {
            Column(C.HardMargin(s)), Column(C.SoftMargin(s)), Column(C.Alignment(s)), Column(C.NormOverEtaIntegral(s)), Column(C.Norm(s)),
            finished ? Column(C.LemmaC10Ratio(s)) : [],
        }).ToArray();
        IReadOnlyList<double>[][] perPart = parts.Select(p => new[]
        {
            Column(C.MomentumRatio(p.Part)), Column(C.MomentumDirectionGap(p.Part)), Column(C.MomentumCoordinateShare(p.Part)),
            p.SecondMoment ? Column(C.SecondMomentRatio(p.Part)) : [], p.SecondMoment ? Column(C.SecondMomentDirectionGap(p.Part)) : [],
        }).ToArray();

        for (int i = 0; i < rows; i++)
        {
            int r = i;
            trajectory.Add(new Observation
            {
                Time = t[r],
                LogLoss = logLoss[r],
                Sigma = sigma[r],
                EtaIntegral = etaIntegral[r],
                Eta = eta[r],
                Counters = new SolverCounters(stepSize[r], Count(accepted[r]), Count(rejected[r]), Count(evaluations[r])),
                MinMargin = minMargin[r],
                PhiInverse = phiInverse[r],
                Norms = norms.Select((n, k) => new NormObservation(n, perNorm[k][0][r], perNorm[k][1][r], perNorm[k][2][r], perNorm[k][3][r], perNorm[k][4][r])
                {
                    LemmaC10Ratio = finished ? perNorm[k][5][r] : double.NaN,
                }).ToArray(),
                DriftLInfOverEtaIntegral = drift[r],
                Speed = speed[r],
                RSpeed = rSpeed[r],
                REta = rEta[r],
                Parts = parts.Select((p, k) => new PartObservation(p.Part, perPart[k][0][r], perPart[k][1][r], perPart[k][2][r], p.SecondMoment ? new SecondMomentObservation(perPart[k][3][r], perPart[k][4][r]) : null)).ToArray(),
                PatternChanges = changes is null ? null : (int)Count(changes[r]),
                SignSwitches = (int)Count(signs[r]),
                Sharpness = sharp ? new SharpnessObservation(sharpness![r], threshold![r]) : null,
                CosineToLast = cosine?[r] ?? double.NaN,
                TimeOverLast = tOver?[r] ?? double.NaN,
            });
        }

        // The shape read from the names must give back exactly these names: no column is left unread or out of place.
        Trajectory result = finished ? new Trajectory(trajectory, finished: true) : trajectory;
        string[] expected = Columns(result).Select(c => c.Name).ToArray();
        return expected.SequenceEqual(names)
            ? result
            : throw new InvalidDataException($"columns {string.Join(", ", names)} are not a trajectory's; expected {string.Join(", ", expected)}");
    }

    private static long Count(double value) => double.IsFinite(value) && value == Math.Floor(value) && Math.Abs(value) < 1L << 53
        ? (long)value
        : throw new InvalidDataException($"a count column holds {value}, not a whole number");
}
