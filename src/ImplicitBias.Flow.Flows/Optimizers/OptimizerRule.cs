namespace ImplicitBias.Flow.Flows.Optimizers;

/// <summary>What the direction of dθ/dt is computed from (paper Eqs. 2–8).</summary>
public enum UpdateSource
{
    /// <summary>The gradient g (Eqs. 2–3).</summary>
    Gradient,

    /// <summary>The momentum m of dm/dt = c1 (g − m) (Eqs. 4–6).</summary>
    Momentum,

    /// <summary>Adam's ratio m̂ / (√v̂ + ε) (Eqs. 7–8).</summary>
    Adam,
}

/// <summary>How the source is turned into a direction (the norm of steepest descent, docs/mathematics.md §2).</summary>
public enum UpdateGeometry
{
    /// <summary>The source itself (GD, MomentumGD: ℓ2, Eq. 2/5).</summary>
    Raw,

    /// <summary>s/‖s‖₂ (NGD, normalized MomentumGD: ℓ2, Eq. 3/6).</summary>
    L2,

    /// <summary>sign(s) (SignGD, Signum: ℓ∞).</summary>
    Sign,

    /// <summary>U Vᵀ per matrix (SpectralGD, Muon: msp).</summary>
    Polar,

    /// <summary>Coordinatewise m̂/(√v̂ + ε) (Adam).</summary>
    AdamRatio,

    /// <summary>The definition's own <see cref="IDefinedDirection"/> (host flow and discrete optimizer).</summary>
    Defined,
}

/// <summary>How sign(x) is evaluated.</summary>
public enum SignMode
{
    /// <summary>x / √(x² + δ²) with δ = width · max|x| over the part: smooth, so adaptive steppers work.</summary>
    Smooth,

    /// <summary>The discontinuous sign (0 at 0).</summary>
    Exact,
}
