using System.Reflection;

namespace ImplicitBias.Flow.Cli;

/// <summary>What <c>ibflow --version</c> prints: the package version and the git commit the program was built from.</summary>
internal static class ToolVersion
{
    /// <summary>"ibflow 0.1.0 (commit 1a2b3c4d5e6f)", or "(commit unknown: built outside a git checkout)".</summary>
    public static string Describe()
    {
        string informational = typeof(ToolVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

        // The build appends "+<commit>" (SemVer build metadata) when it knows the commit.
        int plus = informational.IndexOf('+', StringComparison.Ordinal);
        return plus < 0
            ? $"ibflow {informational} (commit unknown: built outside a git checkout)"
            : $"ibflow {informational[..plus]} (commit {informational[(plus + 1)..]})";
    }
}
