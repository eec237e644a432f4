namespace ImplicitBias.Flow.Plotting;

/// <summary>
/// One HTML page of several figures (a run's <c>index.html</c>): a title, an optional table (e.g. each run's status,
/// final log L and margins), short paragraphs, then every figure in order. See <see cref="PlotlyRenderer.WritePage"/>.
/// </summary>
/// <param name="Title">The page's heading and window title.</param>
/// <param name="Figures">The figures, each with a short name (its anchor on the page, e.g. "alignment").</param>
public sealed record PlotPage(string Title, IReadOnlyList<(string Name, FigureSpec Figure)> Figures)
{
    /// <summary>A table shown above the figures; null for none.</summary>
    public PageTable? Table { get; init; }

    /// <summary>Paragraphs of plain text shown between the table and the figures.</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>Checks the figures and the table's shape.</summary>
    /// <exception cref="ArgumentException">A figure or the table is inconsistent.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Title);
        ArgumentNullException.ThrowIfNull(Figures);
        ArgumentNullException.ThrowIfNull(Notes);
        foreach ((string name, FigureSpec figure) in Figures)
        {
            ArgumentException.ThrowIfNullOrEmpty(name);
            figure.Validate();
        }

        Table?.Validate();
    }
}

/// <summary>A plain table of text cells.</summary>
/// <param name="Columns">The column headings.</param>
/// <param name="Rows">The rows, each with one cell per column.</param>
public sealed record PageTable(IReadOnlyList<string> Columns, IReadOnlyList<IReadOnlyList<string>> Rows)
{
    /// <summary>Checks that every row has one cell per column.</summary>
    /// <exception cref="ArgumentException">A row has the wrong length.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Columns);
        ArgumentNullException.ThrowIfNull(Rows);
        for (int i = 0; i < Rows.Count; i++)
        {
            if (Rows[i].Count != Columns.Count)
            {
                throw new ArgumentException($"Table row {i} has {Rows[i].Count} cells for {Columns.Count} columns.");
            }
        }
    }
}
