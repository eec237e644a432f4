using System.Globalization;
using ImplicitBias.Flow.Core.IO;

namespace ImplicitBias.Flow.Models.Data;

/// <summary>
/// A researcher's own data set {(x_i, y_i)} read from files: inputs X as an m×d <c>.npy</c> and labels y as a length-m
/// <c>.npy</c> (what <c>np.save</c> writes), or one CSV file. Every defect (wrong shape, a label other than ±1, a value
/// that is not a finite number, a ragged row) is an <see cref="InvalidDataException"/> whose message names the file and
/// what is wrong, in one line.
/// </summary>
public static class DataFiles
{
    /// <summary>Reads X (m×d, float64 or float32) and y (length m, or m×1, each −1 or +1).</summary>
    public static Dataset FromNpy(string xPath, string yPath, int maxSamples = int.MaxValue)
    {
        NpyArray x = Npy.ReadFile(xPath);
        NpyArray y = Npy.ReadFile(yPath);
        if (x.Shape.Length != 2)
        {
            throw new InvalidDataException($"'{xPath}': X must be a 2-D array of shape (m, d); its shape is ({x.Shape[0]},).");
        }

        int m = x.Shape[0], d = x.Shape[1];
        if (m == 0 || d == 0)
        {
            throw new InvalidDataException($"'{xPath}': X has shape ({m}, {d}); it needs at least one sample and one feature.");
        }

        if (m > maxSamples)
        {
            throw new InvalidDataException($"'{xPath}': X has {m} samples; at most {maxSamples} are allowed.");
        }

        bool column = y.Shape.Length == 2 && y.Shape[1] == 1;
        if ((y.Shape.Length != 1 && !column) || y.Shape[0] != m)
        {
            throw new InvalidDataException($"'{yPath}': y must have shape ({m},) to match the {m} rows of '{xPath}'; its shape is ({string.Join(", ", y.Shape)}).");
        }

        CheckFinite(xPath, x.Data, d);
        CheckLabels(yPath, y.Data, k => $"entry {k}");
        return new Dataset(x.Data, y.Data, d);
    }

    /// <summary>
    /// Reads a CSV file: a header row naming the columns, then one row per sample; the column named
    /// <paramref name="labelColumn"/> holds y (−1 or +1), every other column is a feature (a number).
    /// </summary>
    public static Dataset FromCsv(string path, string labelColumn, int maxSamples = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(labelColumn);
        using var reader = new StreamReader(path);
        string? headerLine = reader.ReadLine();
        if (headerLine is null || headerLine.Trim().Length == 0)
        {
            throw new InvalidDataException($"'{path}' is empty; expected a header row naming the columns, e.g. x1,x2,{labelColumn}.");
        }

        string[] names = headerLine.Split(',').Select(n => n.Trim().Trim('"')).ToArray();
        int label = Array.FindIndex(names, n => string.Equals(n, labelColumn, StringComparison.Ordinal));
        if (label < 0)
        {
            throw new InvalidDataException($"'{path}' has no column '{labelColumn}' (Data:LabelColumn); its columns are: {string.Join(", ", names)}.");
        }

        int d = names.Length - 1;
        if (d == 0)
        {
            throw new InvalidDataException($"'{path}' has only the label column; it needs at least one feature column.");
        }

        var x = new List<double>();
        var y = new List<double>();
        int lineNumber = 1;
        for (string? line = reader.ReadLine(); line is not null; line = reader.ReadLine())
        {
            lineNumber++;
            if (line.Trim().Length == 0)
            {
                continue;
            }

            string[] cells = line.Split(',');
            if (cells.Length != names.Length)
            {
                throw new InvalidDataException($"'{path}' line {lineNumber} has {cells.Length} cells; the header has {names.Length} (a ragged row).");
            }

            if (y.Count == maxSamples)
            {
                throw new InvalidDataException($"'{path}' has more than {maxSamples} samples.");
            }

            for (int k = 0; k < cells.Length; k++)
            {
                string cell = cells[k].Trim().Trim('"');
                if (!double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
                {
                    throw new InvalidDataException($"'{path}' line {lineNumber}, column '{names[k]}': '{cell}' is not a finite number.");
                }

                if (k == label)
                {
                    if (v is not (1.0 or -1.0))
                    {
                        throw new InvalidDataException($"'{path}' line {lineNumber}: label '{cell}' in column '{labelColumn}' is not −1 or +1.");
                    }

                    y.Add(v);
                }
                else
                {
                    x.Add(v);
                }
            }
        }

        if (y.Count == 0)
        {
            throw new InvalidDataException($"'{path}' has a header but no data rows.");
        }

        return new Dataset(x.ToArray(), y.ToArray(), d);
    }

    /// <summary>Writes X (m×d float64) and y (length m) as two <c>.npy</c> files, each atomically.</summary>
    public static void WriteNpy(Dataset data, string xPath, string yPath)
    {
        ArgumentNullException.ThrowIfNull(data);
        Npy.WriteFile(xPath, data.X, [data.Count, data.Dimension]);
        Npy.WriteFile(yPath, data.Y);
    }

    private static void CheckFinite(string path, double[] values, int d)
    {
        for (int k = 0; k < values.Length; k++)
        {
            if (!double.IsFinite(values[k]))
            {
                throw new InvalidDataException($"'{path}': X[{k / d}, {k % d}] is {values[k].ToString(CultureInfo.InvariantCulture)}, not a finite number.");
            }
        }
    }

    private static void CheckLabels(string path, double[] labels, Func<int, string> where)
    {
        for (int k = 0; k < labels.Length; k++)
        {
            if (labels[k] is not (1.0 or -1.0))
            {
                throw new InvalidDataException($"'{path}': {where(k)} is {labels[k].ToString(CultureInfo.InvariantCulture)}; labels must be −1 or +1.");
            }
        }
    }
}
