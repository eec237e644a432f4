using System.Reflection;
using ImplicitBias.Flow.Analysis.Observers;

namespace ImplicitBias.Flow.Analysis.Tests.Observers;

/// <summary>
/// The trajectory's column vocabulary is pinned to the observation types: every number an <see cref="Observation"/>
/// holds is exactly one column, named as trajectory.csv has always named it, and the file reads back to the same types.
/// </summary>
public sealed class TrajectoryFormatTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-trajectory-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // Every field gets its own value (row r adds 1000 r), so that a column reading the wrong field is seen.
    private static Observation Sample(int row, bool msp = true, bool pattern = true, bool sharpness = true)
    {
        double v = 1000 * row, k = 0;
        double Next() => v + ++k + 0.25;
        NormObservation Norm(ObservedNorm n) => new(n, Next(), Next(), Next(), Next(), Next()) { LemmaC10Ratio = Next() };
        return new Observation
        {
            Time = Next(),
            LogLoss = Next(),
            Sigma = Next(),
            EtaIntegral = Next(),
            Eta = Next(),
            Counters = new SolverCounters(Next(), 10 + row, 20 + row, 30 + row),
            MinMargin = Next(),
            PhiInverse = Next(),
            Norms = msp ? [Norm(ObservedNorm.L2), Norm(ObservedNorm.LInf), Norm(ObservedNorm.Msp), Norm(ObservedNorm.Own)] : [Norm(ObservedNorm.L2), Norm(ObservedNorm.LInf), Norm(ObservedNorm.Own)],
            DriftLInfOverEtaIntegral = Next(),
            Speed = Next(),
            RSpeed = Next(),
            REta = Next(),
            Parts = [new PartObservation("muon", Next(), Next(), Next(), null), new PartObservation("adam", Next(), Next(), Next(), new SecondMomentObservation(Next(), Next()))],
            PatternChanges = pattern ? 40 + row : null,
            SignSwitches = 50 + row,
            Sharpness = sharpness ? new SharpnessObservation(Next(), Next()) : null,
            CosineToLast = Next(),
            TimeOverLast = Next(),
        };
    }

    private static Trajectory Sample(bool finished, bool msp = true, bool pattern = true, bool sharpness = true) =>
        new(Enumerable.Range(0, 3).Select(r => Sample(r, msp, pattern, sharpness)), finished);

    [Fact]
    public void Columns_AreTheFilesVocabulary_InItsOrder()
    {
        string[] names = TrajectoryFormat.Columns(Sample(finished: true)).Select(c => c.Name).ToArray();
        string[] perNorm(string n) => [$"hardMargin_{n}", $"softMargin_{n}", $"alignment_{n}", $"normOverEtaIntegral_{n}", $"norm_{n}"];
        string[] expected =
        [
            "t", "logLoss", "sigma", "etaIntegral", "eta", "stepSize", "acceptedSteps", "rejectedSteps", "rhsEvaluations", "minMargin", "phiInverse",
            .. perNorm("l2"), .. perNorm("linf"), .. perNorm("msp"), .. perNorm("own"),
            "driftLinfOverEtaIntegral", "speed", "rSpeed", "rEta",
            "momentumRatio_muon", "momentumDirectionGap_muon", "momentumCoordinateShare_muon",
            "momentumRatio_adam", "momentumDirectionGap_adam", "momentumCoordinateShare_adam", "secondMomentRatio_adam", "secondMomentDirectionGap_adam",
            "patternChanges", "signSwitches", "sharpness", "sharpnessThreshold", "cosineToLast", "tOverTLast", "lemmaC10Ratio_l2", "lemmaC10Ratio_linf", "lemmaC10Ratio_msp", "lemmaC10Ratio_own",
        ];
        Assert.Equal(expected, names);
    }

    [Fact]
    public void EveryNumberOfTheTypes_IsExactlyOneColumn()
    {
        // The numbers an observation holds (doubles, counts, nested records, lists of records), counted by reflection:
        // a field added to a type without a column (or a column without a field) changes the count.
        Observation o = Sample(0);
        IReadOnlyList<TrajectoryColumn> columns = TrajectoryFormat.Columns(new Trajectory([o], finished: true));
        Assert.Equal(Numbers(o), columns.Count);

        // Every column reads a different field (all sample values differ).
        double[] values = columns.Select(c => c.Value(o)).ToArray();
        Assert.Equal(values.Length, values.Distinct().Count());
    }

    private static int Numbers(object value) => value switch
    {
        double or long or int => 1,
        string or Enum => 0,
        System.Collections.IEnumerable list => list.Cast<object>().Sum(Numbers),
        _ => value.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetIndexParameters().Length == 0 && p.Name != "EqualityContract" && p.Name != nameof(Observation.Own))
            .Select(p => p.GetValue(value))
            .Sum(v => v is null ? 0 : Numbers(v)),
    };

    [Theory]
    [InlineData(true, true, true, true)]
    [InlineData(false, true, true, true)]
    [InlineData(true, false, false, false)]
    [InlineData(false, true, false, false)]
    public void Csv_ReadsBackToTheSameObservations(bool finished, bool msp, bool pattern, bool sharpness)
    {
        Trajectory trajectory = Sample(finished, msp, pattern, sharpness);
        string path = Path.Combine(_dir, "trajectory.csv");
        TrajectoryFormat.WriteCsv(trajectory, path);
        Trajectory back = TrajectoryFormat.ReadCsv(path);
        AssertSame(trajectory, back);
        Assert.Equal(TrajectoryFormat.ToCsv(trajectory).ToCsvString(), TrajectoryFormat.ToCsv(back).ToCsvString());
    }

    [Fact]
    public void Checkpoint_ReadsBackBitForBit()
    {
        Trajectory trajectory = Sample(finished: false);
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            TrajectoryFormat.WriteTo(trajectory, writer);
        }

        stream.Position = 0;
        using var reader = new BinaryReader(stream);
        AssertSame(trajectory, TrajectoryFormat.ReadFrom(reader));
    }

    [Fact]
    public void Csv_WithAColumnOutOfPlace_IsRefusedNamingTheColumns()
    {
        string path = Path.Combine(_dir, "trajectory.csv");
        string[] lines = TrajectoryFormat.ToCsv(Sample(finished: true)).ToCsvString().Split('\n');
        lines[0] = lines[0].Replace("sigma,etaIntegral", "etaIntegral,sigma", StringComparison.Ordinal);
        File.WriteAllText(path, string.Join('\n', lines));
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => TrajectoryFormat.ReadCsv(path));
        Assert.Contains("etaIntegral,sigma".Replace(",", ", ", StringComparison.Ordinal), e.Message, StringComparison.Ordinal);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Observation_OfAnotherShape_IsRefused()
    {
        var trajectory = new Trajectory([Sample(0, msp: true)]);
        Assert.Throws<ArgumentException>(() => trajectory.Add(Sample(1, msp: false)));
        Assert.Throws<ArgumentException>(() => trajectory.Add(Sample(1, sharpness: false)));
    }

    private static void AssertSame(Trajectory expected, Trajectory actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        Assert.Equal(expected.Finished, actual.Finished);
        IReadOnlyList<TrajectoryColumn> columns = TrajectoryFormat.Columns(expected);
        Assert.Equal(columns.Select(c => c.Name), TrajectoryFormat.Columns(actual).Select(c => c.Name));
        foreach (TrajectoryColumn column in columns)
        {
            Assert.Equal(expected.Values(column.Value), actual.Values(column.Value));
        }

        Assert.Equal(expected.Select(o => o.Parts.Select(p => p.Part)), actual.Select(o => o.Parts.Select(p => p.Part)));
        Assert.Equal(expected.Select(o => o.Norms.Select(n => n.Norm)), actual.Select(o => o.Norms.Select(n => n.Norm)));
        Assert.Equal(expected.Select(o => o.Sharpness), actual.Select(o => o.Sharpness));
    }
}
