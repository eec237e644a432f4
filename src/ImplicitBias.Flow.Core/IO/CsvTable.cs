using System.Globalization;

namespace ImplicitBias.Flow.Core.IO;

/// <summary>
/// A numeric table read back from a CSV written by <see cref="CsvTableWriter"/>: a header of column names,
/// then rows of numbers (nan, inf and -inf allowed). Used to redraw plots from saved runs.
/// </summary>
public sealed class CsvTable
{
    private readonly Dictionary<string, double[]> _columns;

    private CsvTable(IReadOnlyList<string> names, Dictionary<string, double[]> columns, int rows)
    {
        Columns = names;
        _columns = columns;
        RowCount = rows;
    }

    /// <summary>Column names in file order.</summary>
    public IReadOnlyList<string> Columns { get; }

    /// <summary>Number of data rows.</summary>
    public int RowCount { get; }

    /// <summary>True when the column exists.</summary>
    public bool Has(string name) => _columns.ContainsKey(name);

    /// <summary>The values of a column.</summary>
    public double[] Column(string name) => _columns.TryGetValue(name, out double[]? v)
        ? v
        : throw new KeyNotFoundException($"No column '{name}'; columns: {string.Join(", ", Columns)}.");

    /// <summary>Reads a numeric CSV file; non-numeric cells become NaN.</summary>
    public static CsvTable Read(string path)
    {
        string[] lines = File.ReadAllLines(path).Where(l => l.Length > 0).ToArray();
        if (lines.Length == 0)
        {
            throw new InvalidDataException($"'{path}' is empty; expected a header line.");
        }

        string[] names = lines[0].Split(',').Select(n => n.Trim('"')).ToArray();
        var values = names.Select(_ => new double[lines.Length - 1]).ToArray();
        for (int r = 1; r < lines.Length; r++)
        {
            string[] cells = lines[r].Split(',');
            if (cells.Length != names.Length)
            {
                throw new InvalidDataException($"'{path}' line {r + 1} has {cells.Length} cells; the header has {names.Length}.");
            }

            for (int c = 0; c < names.Length; c++)
            {
                values[c][r - 1] = Parse(cells[c]);
            }
        }

        var columns = new Dictionary<string, double[]>(StringComparer.Ordinal);
        for (int c = 0; c < names.Length; c++)
        {
            columns[names[c]] = values[c];
        }

        return new CsvTable(names, columns, lines.Length - 1);
    }

    private static double Parse(string cell) => cell.Trim() switch
    {
        "nan" or "NaN" => double.NaN,
        "inf" or "Infinity" => double.PositiveInfinity,
        "-inf" or "-Infinity" => double.NegativeInfinity,
        string s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : double.NaN,
    };
}
