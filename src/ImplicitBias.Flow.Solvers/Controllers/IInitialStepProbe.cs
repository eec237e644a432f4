namespace ImplicitBias.Flow.Solvers.Controllers;

/// <summary>
/// The problem at t0 as a starting-step algorithm sees it: norms in the controller's error norm, computed (and
/// right-hand sides evaluated) only when asked, in the order asked.
/// </summary>
public interface IInitialStepProbe
{
    /// <summary>The classical order of the method.</summary>
    int Order { get; }

    /// <summary>‖y0‖ (the scaled norm with y0 as its own scale).</summary>
    double StateNorm();

    /// <summary>‖f(t0, y0)‖ (N for exponential methods, whose linear part is exact).</summary>
    double DerivativeNorm();

    /// <summary>‖f(t0 + h, y0 + h f(t0, y0)) − f(t0, y0)‖: one more evaluation.</summary>
    double DerivativeChangeNorm(double h);
}
