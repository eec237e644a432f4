using System.Globalization;
using ImplicitBias.Flow.Core.IO;
using Microsoft.FSharp.Collections;
using Plotly.NET;

namespace ImplicitBias.Flow.Plotting;

/// <summary>
/// Renders a <see cref="FigureSpec"/> with Plotly.NET into a self-contained HTML file: plotly.js is embedded
/// inline (<see cref="PlotlyJSReference.Full"/>), so the file opens offline and never contacts a CDN.
/// One figure per file: each file is about 4.5 MB because of the embedded library, but it stays
/// independently shareable and a figure can be regenerated without touching the others.
/// </summary>
public static class PlotlyRenderer
{
    // Plotly's default "D3" palette; set explicitly so a band gets the same colour as its line.
    private static readonly string[] Palette =
    [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    ];

    /// <summary>Renders the figure to a complete HTML document with plotly.js inline.</summary>
    /// <param name="figure">The figure.</param>
    /// <returns>The HTML text.</returns>
    public static string ToHtml(FigureSpec figure)
    {
        GenericChart chart = ToChart(figure);
        string html = GenericChart.toEmbeddedHTML(chart);

        // Plotly.NET's page declares no document encoding, so a browser opening the file from disk reads the
        // UTF-8 labels (γ, ‖θ‖, ∞, the minus sign) as Latin-1. Declare it first thing in <head>.
        const string head = "<head>";
        int at = html.IndexOf(head, StringComparison.OrdinalIgnoreCase);
        return at < 0 ? html : html.Insert(at + head.Length, "<meta charset=\"utf-8\">");
    }

    /// <summary>Renders the figure and writes it atomically to <paramref name="path"/> (folder created if needed).</summary>
    /// <param name="path">Target .html file.</param>
    /// <param name="figure">The figure.</param>
    public static void WriteHtml(string path, FigureSpec figure) => AtomicFile.WriteAllText(path, ToHtml(figure));

    /// <summary>
    /// Number of Plotly traces the figure produces: one per line plus two per band (its lower and upper
    /// edges). Reference lines are layout shapes, not traces.
    /// </summary>
    /// <param name="figure">The figure.</param>
    /// <returns>The trace count.</returns>
    public static int TraceCount(FigureSpec figure)
    {
        ArgumentNullException.ThrowIfNull(figure);
        return figure.Series.Sum(s => s.HasBand ? 3 : 1);
    }

    /// <summary>Builds the Plotly.NET chart (for callers that want to compose it further).</summary>
    /// <param name="figure">The figure.</param>
    /// <returns>The chart, with display options set to embed plotly.js.</returns>
    public static GenericChart ToChart(FigureSpec figure)
    {
        ArgumentNullException.ThrowIfNull(figure);
        figure.Validate();

        var traces = new List<Trace>();
        for (int i = 0; i < figure.Series.Count; i++)
        {
            LineSeries s = figure.Series[i];
            string color = Palette[i % Palette.Length];
            string group = $"series{i}";
            if (s.HasBand)
            {
                // Order matters: 'tonexty' fills down to the previous trace, so lower edge first, then the upper
                // edge filled against it, then the mean on top so the band never hides the line.
                traces.Add(BandEdge(s.X, s.Lower!, group, $"{s.Name} (95% CI lower)", fill: null, color));
                traces.Add(BandEdge(s.X, s.Upper!, group, $"{s.Name} (95% CI upper)", fill: "tonexty", color));
            }

            var line = new Trace("scatter");
            line.SetProperty("type", "scatter");
            line.SetProperty("mode", "lines");
            line.SetProperty("name", s.Name);
            line.SetProperty("legendgroup", group);
            line.SetProperty("x", Values(s.X));
            line.SetProperty("y", Values(s.Y));
            line.SetProperty("line", Obj(("color", color), ("width", 2), ("dash", DashName(s.Dash))));
            traces.Add(line);
        }

        GenericChart chart = GenericChart.ofTraceObjects(true, ListModule.OfSeq(traces));
        chart = GenericChart.setLayout(BuildLayout(figure), chart);
        DisplayOptions display = DisplayOptions.setPlotlyReference(PlotlyJSReference.Full).Invoke(new DisplayOptions());
        return GenericChart.setDisplayOptions(display, chart);
    }

    private static Trace BandEdge(
        IReadOnlyList<double> x, IReadOnlyList<double> y, string group, string name, string? fill, string color)
    {
        var t = new Trace("scatter");
        t.SetProperty("type", "scatter");
        t.SetProperty("mode", "lines");
        t.SetProperty("name", name);
        t.SetProperty("legendgroup", group);
        t.SetProperty("showlegend", false);
        t.SetProperty("hoverinfo", "skip");
        t.SetProperty("x", Values(x));
        t.SetProperty("y", Values(y));
        // Transparent edge: only the fill between the edges should be visible.
        t.SetProperty("line", Obj(("color", "rgba(0,0,0,0)"), ("width", 0)));
        if (fill is not null)
        {
            t.SetProperty("fill", fill);
            t.SetProperty("fillcolor", WithAlpha(color, 0.2));
        }

        return t;
    }

    private static Layout BuildLayout(FigureSpec figure)
    {
        var layout = new Layout();
        layout.SetProperty("title", Obj(("text", figure.Title)));
        layout.SetProperty("xaxis", Axis(figure.XAxisTitle, figure.LogX, figure.ReverseX));
        layout.SetProperty("yaxis", Axis(figure.YAxisTitle, figure.LogY, reversed: false));
        layout.SetProperty("template", "plotly_white");
        layout.SetProperty("hovermode", "x unified");

        var shapes = new List<Dictionary<string, object?>>();
        var annotations = new List<Dictionary<string, object?>>();
        foreach (ReferenceLine r in figure.ReferenceLines)
        {
            // xref 'paper' spans the full width whatever the x range or scale. Shapes take data values even on a
            // log axis, but annotations take log10 there, hence the conversion.
            shapes.Add(Obj(
                ("type", "line"), ("xref", "paper"), ("x0", 0), ("x1", 1), ("yref", "y"), ("y0", r.Y), ("y1", r.Y),
                ("line", Obj(("color", "#444444"), ("width", 1.5), ("dash", DashName(r.Dash))))));
            double annotationY = figure.LogY ? Math.Log10(r.Y) : r.Y;
            annotations.Add(Obj(
                ("xref", "paper"), ("x", 1), ("xanchor", "right"), ("yref", "y"), ("y", annotationY),
                ("yanchor", "bottom"), ("showarrow", false), ("text", r.Label), ("font", Obj(("color", "#444444")))));
        }

        layout.SetProperty("shapes", shapes);
        layout.SetProperty("annotations", annotations);
        return layout;
    }

    private static Dictionary<string, object?> Axis(string title, bool log, bool reversed)
    {
        var axis = Obj(("title", Obj(("text", title))), ("type", log ? "log" : "linear"), ("exponentformat", "power"));
        if (reversed)
        {
            axis["autorange"] = "reversed";
        }

        return axis;
    }

    // NaN/Inf are not JSON; null is, and Plotly draws it as a gap.
    private static double?[] Values(IReadOnlyList<double> v) =>
        [.. v.Select(d => double.IsFinite(d) ? d : (double?)null)];

    private static Dictionary<string, object?> Obj(params (string Key, object? Value)[] items) =>
        items.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);

    private static string DashName(LineDash dash) => dash switch
    {
        LineDash.Solid => "solid",
        LineDash.Dash => "dash",
        LineDash.Dot => "dot",
        LineDash.DashDot => "dashdot",
        _ => throw new ArgumentOutOfRangeException(nameof(dash), dash, "Unknown dash pattern."),
    };

    private static string WithAlpha(string hex, double alpha)
    {
        int r = int.Parse(hex.AsSpan(1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        int g = int.Parse(hex.AsSpan(3, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        int b = int.Parse(hex.AsSpan(5, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        return string.Create(CultureInfo.InvariantCulture, $"rgba({r},{g},{b},{alpha})");
    }
}
