namespace ImplicitBias.Flow.Core.State;

/// <summary>
/// An optional capability of an <see cref="IOdeTerm{TState}"/>: a low-rank model of the Jacobian ∂N/∂y at (t, y) that
/// costs no evaluation of N, W_model x = Σ_k u_k (z_k · x) (Euclidean dot product). A Rosenbrock-W step puts it in its W
/// and spends its paid Jacobian–vector products only on what the model misses. Normalized GD has one: its Jacobian is
/// −(η/‖∇ log L‖)(I − ĝĝᵀ) ∇² log L, and the Gauss–Newton part of ∇² log L needs only per-sample output gradients
/// (Flows/STEPPERS.md, "What NGD's stiff spectrum is made of").
/// </summary>
public interface IJacobianModelTerm
{
    /// <summary>The model's rank, the most pairs <see cref="JacobianModel"/> writes; 0: no model (a wrapper may forward a term that has none).</summary>
    int JacobianModelRank { get; }

    /// <summary>
    /// Writes up to <c>range.Length</c> (at most <see cref="JacobianModelRank"/>) pairs (u_k, z_k) of the model at (t, y), where n = N(t, y), into
    /// <paramref name="range"/> and <paramref name="coRange"/> (arrays of the state's length, overwritten in full);
    /// returns how many were written (0: no model here). Must depend on (t, y, n) only, so that a solve resumed from a
    /// checkpoint rebuilds the same model.
    /// </summary>
    int JacobianModel(double t, ReadOnlySpan<double> y, ReadOnlySpan<double> n, double[][] range, double[][] coRange);
}
