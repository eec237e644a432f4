namespace ImplicitBias.Flow.Plotting;

/// <summary>
/// A Plotly-free description of one 2-D line figure. The rest of the product fills these so that only this
/// project depends on Plotly.NET; <see cref="PlotlyRenderer"/> turns them into HTML.
/// </summary>
/// <param name="Title">Figure title shown above the plot.</param>
/// <param name="XAxisTitle">Label of the x axis.</param>
/// <param name="YAxisTitle">Label of the y axis.</param>
/// <param name="Series">Lines to draw, in legend order.</param>
/// <remarks>
/// On a log axis, non-positive values cannot be drawn; Plotly leaves gaps there. Set <see cref="ReverseX"/>
/// for plots "against loss", where time runs from large to small x.
/// </remarks>
public sealed record FigureSpec(string Title, string XAxisTitle, string YAxisTitle, IReadOnlyList<LineSeries> Series)
{
    /// <summary>Draw the x axis on a log10 scale.</summary>
    public bool LogX { get; init; }

    /// <summary>Draw the y axis on a log10 scale.</summary>
    public bool LogY { get; init; }

    /// <summary>Let x decrease from left to right (e.g. loss, which falls as training proceeds).</summary>
    public bool ReverseX { get; init; }

    /// <summary>Horizontal reference lines (e.g. a predicted limit), drawn across the full width.</summary>
    public IReadOnlyList<ReferenceLine> ReferenceLines { get; init; } = [];

    /// <summary>Checks lengths and names so a bad figure fails here, not as a silently broken plot.</summary>
    /// <exception cref="ArgumentException">A series is inconsistent.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Series);
        ArgumentNullException.ThrowIfNull(ReferenceLines);
        foreach (LineSeries s in Series)
        {
            s.Validate();
        }
    }
}

/// <summary>Dash pattern of a line.</summary>
public enum LineDash
{
    /// <summary>Continuous line.</summary>
    Solid,

    /// <summary>Dashed line.</summary>
    Dash,

    /// <summary>Dotted line.</summary>
    Dot,

    /// <summary>Alternating dashes and dots.</summary>
    DashDot,
}

/// <summary>
/// One line of a figure, optionally with a shaded band (e.g. a 95% confidence interval over seeds) between
/// <see cref="Lower"/> and <see cref="Upper"/>. Non-finite values become gaps.
/// </summary>
/// <param name="Name">Legend entry.</param>
/// <param name="X">Abscissae.</param>
/// <param name="Y">Ordinates, same length as <paramref name="X"/>.</param>
public sealed record LineSeries(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y)
{
    /// <summary>Lower edge of the band, same length as <see cref="X"/>; set together with <see cref="Upper"/>.</summary>
    public IReadOnlyList<double>? Lower { get; init; }

    /// <summary>Upper edge of the band, same length as <see cref="X"/>; set together with <see cref="Lower"/>.</summary>
    public IReadOnlyList<double>? Upper { get; init; }

    /// <summary>Dash pattern of the line.</summary>
    public LineDash Dash { get; init; } = LineDash.Solid;

    /// <summary>True when a band is to be drawn.</summary>
    public bool HasBand => Lower is not null && Upper is not null;

    /// <summary>Checks that arrays have matching lengths and that a band has both edges.</summary>
    /// <exception cref="ArgumentException">The series is inconsistent.</exception>
    public void Validate()
    {
        ArgumentException.ThrowIfNullOrEmpty(Name);
        ArgumentNullException.ThrowIfNull(X);
        ArgumentNullException.ThrowIfNull(Y);
        if (X.Count != Y.Count)
        {
            throw new ArgumentException($"Series '{Name}': {X.Count} x values but {Y.Count} y values.");
        }

        if ((Lower is null) != (Upper is null))
        {
            throw new ArgumentException($"Series '{Name}': a band needs both Lower and Upper.");
        }

        if (Lower is not null && (Lower.Count != X.Count || Upper!.Count != X.Count))
        {
            throw new ArgumentException($"Series '{Name}': band edges must have {X.Count} values like x.");
        }
    }
}

/// <summary>A horizontal line across the whole plot at <paramref name="Y"/>, labelled at its right end.</summary>
/// <param name="Y">Height in data units (not log10 on a log axis).</param>
/// <param name="Label">Text written next to the line, e.g. "predicted limit".</param>
public sealed record ReferenceLine(double Y, string Label)
{
    /// <summary>Dash pattern; dashed by default so it reads as a prediction rather than data.</summary>
    public LineDash Dash { get; init; } = LineDash.Dash;
}
