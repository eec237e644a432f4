namespace ImplicitBias.Flow.Analysis.Observers;

/// <summary>
/// A column-oriented table of observations along a trajectory: one row per saved time, columns in the
/// order they were first written. Missing values in a row are NaN.
/// </summary>
public sealed class TrajectoryTable
{
    private readonly List<string> _names = [];
    private readonly Dictionary<string, List<double>> _columns = new(StringComparer.Ordinal);
    private int _rows;

    /// <summary>Column names in order.</summary>
    public IReadOnlyList<string> Columns => _names;

    /// <summary>Number of rows.</summary>
    public int RowCount => _rows;

    /// <summary>Starts a new row; values set afterwards go into it.</summary>
    public void BeginRow()
    {
        _rows++;
        foreach (List<double> c in _columns.Values)
        {
            c.Add(double.NaN);
        }
    }

    /// <summary>Sets a value of the current row, creating the column (NaN in earlier rows) when new.</summary>
    public void Set(string column, double value)
    {
        if (_rows == 0)
        {
            throw new InvalidOperationException("Call BeginRow before setting values.");
        }

        if (!_columns.TryGetValue(column, out List<double>? values))
        {
            values = Enumerable.Repeat(double.NaN, _rows).ToList();
            _columns[column] = values;
            _names.Add(column);
        }

        values[_rows - 1] = value;
    }

    /// <summary>Sets a whole column (one value per row), replacing it if present.</summary>
    public void SetColumn(string column, IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count != _rows)
        {
            throw new ArgumentException($"Column '{column}' has {values.Count} values for {_rows} rows.", nameof(values));
        }

        if (!_columns.ContainsKey(column))
        {
            _names.Add(column);
        }

        _columns[column] = values.ToList();
    }

    /// <summary>True when the column exists.</summary>
    public bool Has(string column) => _columns.ContainsKey(column);

    /// <summary>The values of a column.</summary>
    public IReadOnlyList<double> Column(string column) => _columns.TryGetValue(column, out List<double>? v)
        ? v
        : throw new KeyNotFoundException($"No column '{column}'; columns: {string.Join(", ", _names)}.");

    /// <summary>Writes the whole table (names and values, bit for bit) for a checkpoint.</summary>
    public void WriteTo(BinaryWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write(_rows);
        writer.Write(_names.Count);
        foreach (string name in _names)
        {
            writer.Write(name);
            foreach (double v in _columns[name])
            {
                writer.Write(v);
            }
        }
    }

    /// <summary>Reads a table written by <see cref="WriteTo"/>.</summary>
    public static TrajectoryTable ReadFrom(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var table = new TrajectoryTable { _rows = reader.ReadInt32() };
        int columns = reader.ReadInt32();
        for (int c = 0; c < columns; c++)
        {
            string name = reader.ReadString();
            var values = new List<double>(table._rows);
            for (int r = 0; r < table._rows; r++)
            {
                values.Add(reader.ReadDouble());
            }

            table._names.Add(name);
            table._columns[name] = values;
        }

        return table;
    }

    /// <summary>The last value of a column (NaN when empty).</summary>
    public double Last(string column) => _rows == 0 ? double.NaN : Column(column)[_rows - 1];
}
