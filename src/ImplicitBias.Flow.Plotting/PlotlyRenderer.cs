using System.Globalization;
using System.Net;
using System.Reflection;
using System.Text;
using ImplicitBias.Flow.Core.IO;
using Microsoft.FSharp.Collections;
using Plotly.NET;

namespace ImplicitBias.Flow.Plotting;

/// <summary>
/// Renders a <see cref="FigureSpec"/> with Plotly.NET into HTML that loads plotly.js from a file beside it
/// (<see cref="ScriptFileName"/>, written from the copy Plotly.NET embeds in its assembly): the pages open offline and
/// never contact a CDN, and a folder of figures shares one 3.6 MB copy of the library instead of one per file.
/// <see cref="WritePage"/> puts several figures and a summary table on one page (the run's <c>index.html</c>).
/// </summary>
public static class PlotlyRenderer
{
    /// <summary>The file name of the shared plotly.js that every written page loads.</summary>
    public const string ScriptFileName = "plotly.min.js";

    // Plotly's default "D3" palette; set explicitly so a band gets the same colour as its line.
    private static readonly string[] Palette =
    [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    ];

    /// <summary>Renders the figure to a complete HTML document that loads plotly.js from <paramref name="scriptSource"/>.</summary>
    /// <param name="figure">The figure.</param>
    /// <param name="scriptSource">The script's URL relative to the page (the shared copy beside it by default).</param>
    /// <returns>The HTML text.</returns>
    public static string ToHtml(FigureSpec figure, string scriptSource = ScriptFileName)
    {
        GenericChart chart = ToChart(figure, scriptSource);
        string html = GenericChart.toEmbeddedHTML(chart);

        // Plotly.NET's page declares no document encoding, so a browser opening the file from disk reads the
        // UTF-8 labels (γ, ‖θ‖, ∞, the minus sign) as Latin-1. Declare it first thing in <head>.
        const string head = "<head>";
        int at = html.IndexOf(head, StringComparison.OrdinalIgnoreCase);
        return at < 0 ? html : html.Insert(at + head.Length, "<meta charset=\"utf-8\">");
    }

    /// <summary>
    /// Renders the figure and writes it atomically to <paramref name="path"/> (folder created if needed), with the shared
    /// plotly.js written beside it when it is not there yet.
    /// </summary>
    /// <param name="path">Target .html file.</param>
    /// <param name="figure">The figure.</param>
    public static void WriteHtml(string path, FigureSpec figure) =>
        WriteHtml(path, figure, Path.GetDirectoryName(Path.GetFullPath(path))!);

    /// <summary>
    /// Renders the figure into <paramref name="path"/>; the page loads plotly.js from <paramref name="scriptDirectory"/>
    /// (by a relative path), where it is written when missing. Several folders of plots can so share one copy.
    /// </summary>
    /// <param name="path">Target .html file.</param>
    /// <param name="figure">The figure.</param>
    /// <param name="scriptDirectory">The folder that holds (or will hold) the shared <see cref="ScriptFileName"/>.</param>
    public static void WriteHtml(string path, FigureSpec figure, string scriptDirectory)
    {
        string script = WriteScript(scriptDirectory);
        AtomicFile.WriteAllText(path, ToHtml(figure, RelativeUrl(path, script)));
    }

    /// <summary>
    /// Writes one page holding every figure of <paramref name="page"/> under its title and table; plotly.js is loaded
    /// once from <paramref name="scriptDirectory"/> (default: the page's own folder), written there when missing.
    /// </summary>
    /// <param name="path">Target .html file, e.g. <c>plots/index.html</c>.</param>
    /// <param name="page">Title, table, notes and figures.</param>
    /// <param name="scriptDirectory">The folder of the shared <see cref="ScriptFileName"/>; null for the page's folder.</param>
    public static void WritePage(string path, PlotPage page, string? scriptDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        string script = WriteScript(scriptDirectory ?? Path.GetDirectoryName(Path.GetFullPath(path))!);
        AtomicFile.WriteAllText(path, ToPageHtml(page, RelativeUrl(path, script)));
    }

    /// <summary>The page of <see cref="WritePage"/> as HTML text, loading plotly.js from <paramref name="scriptSource"/>.</summary>
    /// <param name="page">Title, table, notes and figures.</param>
    /// <param name="scriptSource">The script's URL relative to the page.</param>
    /// <returns>The HTML text.</returns>
    public static string ToPageHtml(PlotPage page, string scriptSource = ScriptFileName)
    {
        ArgumentNullException.ThrowIfNull(page);
        page.Validate();
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>").Append(Escape(page.Title)).Append("</title>\n");
        html.Append("<script src=\"").Append(Escape(scriptSource)).Append("\" charset=\"utf-8\"></script>\n");
        html.Append("<style>body{font-family:sans-serif;margin:1.5em;max-width:1300px}table{border-collapse:collapse;margin:1em 0}")
            .Append("th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}")
            .Append("th{background:#f2f2f2}section.figure{margin:1.5em 0}</style>\n</head><body>\n");
        html.Append("<h1>").Append(Escape(page.Title)).Append("</h1>\n");
        if (page.Table is { } table)
        {
            html.Append("<table class=\"summary\"><thead><tr>");
            foreach (string column in table.Columns)
            {
                html.Append("<th>").Append(Escape(column)).Append("</th>");
            }

            html.Append("</tr></thead><tbody>\n");
            foreach (IReadOnlyList<string> row in table.Rows)
            {
                html.Append("<tr>");
                foreach (string cell in row)
                {
                    html.Append("<td>").Append(Escape(cell)).Append("</td>");
                }

                html.Append("</tr>\n");
            }

            html.Append("</tbody></table>\n");
        }

        foreach (string note in page.Notes)
        {
            html.Append("<p>").Append(Escape(note)).Append("</p>\n");
        }

        foreach ((string name, FigureSpec figure) in page.Figures)
        {
            // Plotly.NET's chart fragment: a div and the script that draws into it, with no library reference of its
            // own; the page's head loads the shared copy once for all figures.
            html.Append("<section class=\"figure\" id=\"").Append(Escape(name)).Append("\">");
            html.Append(GenericChart.toChartHTML(ToChart(figure, scriptSource)));
            html.Append("</section>\n");
        }

        html.Append("</body></html>\n");
        return html.ToString();
    }

    /// <summary>
    /// The page of <see cref="WritePage"/> as one self-contained HTML file: plotly.js is inlined, so the file can be
    /// mailed or archived alone and opens offline (a report of a sweep).
    /// </summary>
    /// <param name="page">Title, table, notes and figures.</param>
    /// <returns>The HTML text.</returns>
    public static string ToStandalonePageHtml(PlotPage page)
    {
        const string placeholder = "ibflow-inline-plotly.js";
        string html = ToPageHtml(page, placeholder);
        string tag = $"<script src=\"{placeholder}\" charset=\"utf-8\"></script>";
        // "</script" inside the library would end the inline element early; "<\/script" means the same to JavaScript.
        string script = Encoding.UTF8.GetString(EmbeddedScript.Value.Script).Replace("</script", "<\\/script", StringComparison.OrdinalIgnoreCase);
        int at = html.IndexOf(tag, StringComparison.Ordinal);
        return html[..at] + "<script charset=\"utf-8\">" + script + "</script>" + html[(at + tag.Length)..];
    }

    /// <summary>
    /// Writes the plotly.js that Plotly.NET embeds (and its license notice) into <paramref name="directory"/> unless an
    /// identical copy is there already; returns the script's path. Nothing is downloaded.
    /// </summary>
    /// <param name="directory">The folder to hold <see cref="ScriptFileName"/> (created if needed).</param>
    /// <returns>The full path of the script.</returns>
    public static string WriteScript(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        string path = Path.GetFullPath(Path.Combine(directory, ScriptFileName));
        byte[] script = EmbeddedScript.Value.Script;
        if (!File.Exists(path) || new FileInfo(path).Length != script.Length)
        {
            AtomicFile.WriteAllBytes(path, script);
            if (EmbeddedScript.Value.License is { } license)
            {
                AtomicFile.WriteAllBytes(path + ".LICENSE.txt", license);
            }
        }

        return path;
    }

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
    /// <param name="scriptSource">The URL of plotly.js that the chart's page loads (relative to the page).</param>
    /// <returns>The chart, with display options set to load plotly.js from <paramref name="scriptSource"/>.</returns>
    public static GenericChart ToChart(FigureSpec figure, string scriptSource = ScriptFileName)
    {
        ArgumentException.ThrowIfNullOrEmpty(scriptSource);
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
        // Plotly.NET's "CDN" reference is a plain <script src=…>; given a relative path it loads the local copy.
        DisplayOptions display = DisplayOptions.setPlotlyReference(PlotlyJSReference.NewCDN(scriptSource)).Invoke(new DisplayOptions());
        return GenericChart.setDisplayOptions(display, chart);
    }

    // The library and its license notice as Plotly.NET ships them (resource names carry its plotly.js version).
    private static readonly Lazy<(byte[] Script, byte[]? License)> EmbeddedScript = new(() =>
    {
        Assembly assembly = typeof(GenericChart).Assembly;
        string[] names = assembly.GetManifestResourceNames();
        string name = names.SingleOrDefault(n => n.EndsWith(".min.js", StringComparison.Ordinal))
            ?? throw new InvalidOperationException("Plotly.NET no longer embeds plotly.min.js; update PlotlyRenderer.");
        string? license = names.SingleOrDefault(n => n == name + ".LICENSE.txt");
        return (Read(assembly, name), license is null ? null : Read(assembly, license));
    });

    private static byte[] Read(Assembly assembly, string resource)
    {
        using Stream stream = assembly.GetManifestResourceStream(resource)!;
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    // The script's path relative to the page's folder, as a URL ('/' separators, each segment escaped).
    private static string RelativeUrl(string pagePath, string scriptPath)
    {
        string relative = Path.GetRelativePath(Path.GetDirectoryName(Path.GetFullPath(pagePath))!, scriptPath);
        return string.Join('/', relative.Split(Path.DirectorySeparatorChar).Select(Uri.EscapeDataString));
    }

    private static string Escape(string text) => WebUtility.HtmlEncode(text);

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
