using System.Globalization;
using System.Text;

namespace ImplicitBias.Flow.Core.IO;

/// <summary>
/// Builds a CSV table column by column and writes it atomically. Numbers use the invariant culture and the
/// shortest round-trip form, so parsing the text gives back the exact <see cref="double"/>; non-finite values are
/// written as <c>nan</c>, <c>inf</c> and <c>-inf</c>, which <c>numpy.genfromtxt</c>, <c>numpy.loadtxt</c> and
/// <c>pandas.read_csv</c> all read as the matching float. The first line is the header of column names.
/// </summary>
/// <example>
/// <code>
/// new CsvTableWriter()
///     .AddColumn("t", times)
///     .AddColumn("loss", losses)
///     .Write("out/run0/trajectory.csv");
/// </code>
/// </example>
public sealed class CsvTableWriter
{
    private readonly List<string> _names = [];
    private readonly List<Func<int, string>> _cells = [];
    private int _rowCount = -1;

    /// <summary>Number of columns added so far.</summary>
    public int ColumnCount => _names.Count;

    /// <summary>Number of data rows (0 before any column is added).</summary>
    public int RowCount => Math.Max(_rowCount, 0);

    /// <summary>Adds a numeric column; all columns must have the same length.</summary>
    /// <param name="name">Header name; must be unique and non-empty.</param>
    /// <param name="values">Column values (copied, so later changes to the source do not leak in).</param>
    /// <returns>This writer, for chaining.</returns>
    public CsvTableWriter AddColumn(string name, IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        double[] copy = [.. values];
        return Add(name, copy.Length, i => FormatDouble(copy[i]));
    }

    /// <summary>Adds an integer column; all columns must have the same length.</summary>
    /// <param name="name">Header name; must be unique and non-empty.</param>
    /// <param name="values">Column values (copied).</param>
    /// <returns>This writer, for chaining.</returns>
    public CsvTableWriter AddColumn(string name, IReadOnlyList<long> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        long[] copy = [.. values];
        return Add(name, copy.Length, i => copy[i].ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>Adds a text column (quoted per RFC 4180 where needed); all columns must have the same length.</summary>
    /// <param name="name">Header name; must be unique and non-empty.</param>
    /// <param name="values">Column values (copied).</param>
    /// <returns>This writer, for chaining.</returns>
    public CsvTableWriter AddColumn(string name, IReadOnlyList<string> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        string[] copy = [.. values];
        return Add(name, copy.Length, i => Quote(copy[i] ?? string.Empty));
    }

    /// <summary>Formats a double the way this writer does: shortest round-trip, invariant, nan/inf/-inf.</summary>
    /// <param name="value">The value.</param>
    /// <returns>Its CSV text.</returns>
    public static string FormatDouble(double value)
    {
        if (double.IsNaN(value))
        {
            return "nan";
        }

        if (double.IsInfinity(value))
        {
            return value > 0 ? "inf" : "-inf";
        }

        // "R" is the shortest string that parses back to the same bits on .NET Core 3.0 and later.
        return value.ToString("R", CultureInfo.InvariantCulture);
    }

    /// <summary>Renders the table (header plus rows, '\n' line ends, trailing newline) as a string.</summary>
    /// <returns>The CSV text.</returns>
    public string ToCsvString()
    {
        if (_names.Count == 0)
        {
            throw new InvalidOperationException("A CSV table needs at least one column.");
        }

        var sb = new StringBuilder();
        sb.AppendJoin(',', _names.Select(Quote)).Append('\n');
        for (int row = 0; row < _rowCount; row++)
        {
            for (int col = 0; col < _cells.Count; col++)
            {
                if (col > 0)
                {
                    sb.Append(',');
                }

                sb.Append(_cells[col](row));
            }

            sb.Append('\n');
        }

        return sb.ToString();
    }

    /// <summary>Writes the table to <paramref name="path"/> atomically (see <see cref="AtomicFile"/>).</summary>
    /// <param name="path">Target file.</param>
    public void Write(string path) => AtomicFile.WriteAllText(path, ToCsvString());

    private CsvTableWriter Add(string name, int length, Func<int, string> cell)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (_names.Contains(name, StringComparer.Ordinal))
        {
            throw new ArgumentException($"Column '{name}' was already added.", nameof(name));
        }

        if (_rowCount >= 0 && length != _rowCount)
        {
            throw new ArgumentException(
                $"Column '{name}' has {length} values but earlier columns have {_rowCount}.", nameof(name));
        }

        _rowCount = length;
        _names.Add(name);
        _cells.Add(cell);
        return this;
    }

    private static string Quote(string text)
    {
        if (text.AsSpan().IndexOfAny(",\"\r\n") < 0)
        {
            return text;
        }

        return "\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }
}
