using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Controllers;
using ImplicitBias.Flow.Solvers.Methods;
using ImplicitBias.Flow.Solvers.ReferenceProblems;

namespace ImplicitBias.Flow.Solvers.Tests;

/// <summary>The step-size controllers: the norm they own, their decisions, and how the options select them.</summary>
public class ControllerTests
{
    private static readonly HostRhs Decay = (t, y, f) => f[0] = -y[0];

    private static OdeResult SolveDecay(OdeMethod method, double t1, OdeOptions<HostState> options) =>
        OdeSolver.Solve(new HostOdeTerm(Decay), new HostStateAlgebra(StateLayout.Single(1, 1e-8, 1e-8)), method, 0, t1, new HostState([1.0]), options);

    private static HostState Ramp(int n, double scale) => new(Enumerable.Range(0, n).Select(i => scale * (i + 1)).ToArray());

    [Fact]
    public void ScaledErrorNorm_IsRmsOfScaledErrorsWithBlockScaledAbsTol()
    {
        var layout = new StateLayout([new StateBlock("a", 11, 1e-3, 1e-6), new StateBlock("b", 5, 1e-2, 1e-4, ScaledAbsTol: 1e-3)]);
        var norm = new ScaledErrorNorm<HostState>(new HostStateAlgebra(layout), ErrorTolerances.Of(layout));
        HostState y0 = Ramp(16, 1.0);
        HostState y1 = Ramp(16, -1.5);
        HostState e = Ramp(16, 1e-4);
        double sum = 0;
        for (int i = 0; i < 16; i++)
        {
            double max = Math.Max(Math.Abs(y0.Values[i]), Math.Abs(y1.Values[i]));
            // Block b: atol = max(1e-4, 1e-3 · max_i |y1_b,i|) = 1e-3 · 1.5 · 16.
            double sc = i < 11 ? 1e-6 + (1e-3 * max) : (1e-3 * 1.5 * 16) + (1e-2 * max);
            sum += Math.Pow(e.Values[i] / sc, 2);
        }

        Assert.Equal(Math.Sqrt(sum / 16), norm.Measure(y0, y1, e), 1e-12);
        e.Values[3] = double.NaN;
        Assert.True(double.IsNaN(norm.Measure(y0, y1, e)));
    }

    [Fact]
    public void Tolerances_AreTheLayoutsUnlessTheControllerReplacesThem()
    {
        var layout = new StateLayout([new StateBlock("a", 2, 1e-3, 1e-6), new StateBlock("b", 3, 1e-2, 1e-4, ScaledAbsTol: 1e-3)]);
        ErrorTolerances declared = new PiController().Tolerances(layout);
        Assert.Equal([1e-3, 1e-2], declared.RelTol.ToArray());
        Assert.Equal([0.0, 1e-3], declared.BlockScale.ToArray());

        ErrorTolerances own = new PiController { RelTol = 1e-7, AbsTol = 1e-9, BlockScale = 0.5 }.Tolerances(layout);
        Assert.Equal([1e-7, 1e-7], own.RelTol.ToArray());
        Assert.Equal([1e-9, 1e-9], own.AbsTol.ToArray());
        Assert.Equal([0.0, 0.5], own.BlockScale.ToArray()); // only the block that declares a scale gets one
        Assert.Equal(1e-9, own.AbsTolAt(0, 10.0));
        Assert.Equal(5.0, own.AbsTolAt(1, 10.0));
    }

    [Fact]
    public void ControllerTolerances_GiveTheSameStepsAsTheSameLayoutTolerances()
    {
        ReferenceProblem problem = ReferenceProblemSet.Arenstorf();
        OdeMethod method = MethodCatalog.Find("dopri5")!;
        OdeResult byLayout = problem.Solve(method, 1e-7, 1e-9);
        OdeResult byController = problem.Solve(method, 1e-3, 1e-3, controller: new PiController { RelTol = 1e-7, AbsTol = 1e-9 });
        Assert.Equal(byLayout.RhsEvaluations, byController.RhsEvaluations);
        Assert.Equal(byLayout.FinalState, byController.FinalState);
        Assert.NotEqual(byLayout.RhsEvaluations, problem.Solve(method, 1e-3, 1e-3).RhsEvaluations);
    }

    [Fact]
    public void IController_IsThePiControllerWithBetaZero()
    {
        ReferenceProblem problem = ReferenceProblemSet.Arenstorf();
        OdeMethod method = MethodCatalog.Find("dopri5")!;
        OdeResult i = problem.Solve(method, 1e-6, 1e-6, controller: IController.Default);
        OdeResult pi0 = problem.Solve(method, 1e-6, 1e-6, controller: new PiController { Beta = 0.0 });
        OdeResult pi = problem.Solve(method, 1e-6, 1e-6);
        Assert.Equal(i.RhsEvaluations, pi0.RhsEvaluations);
        Assert.Equal(i.FinalState, pi0.FinalState);
        Assert.NotEqual(i.RhsEvaluations, pi.RhsEvaluations); // β = 0.04 of the default does change the steps
    }

    [Fact]
    public void Pi_Decide_KeepsGrowsShrinksAndRemembers()
    {
        var pi = new PiController();
        ControllerMemory memory = ControllerMemory.Initial;

        // Kept: h · clamp(0.9 · err^(−α) · 1e-4^β), α = 1/5 − 0.75 · 0.04.
        StepDecision kept = pi.Decide(new StepAttempt(0.1, 0.1, 0.5, 5, 1.0), ref memory);
        double alpha = 0.2 - (0.75 * 0.04);
        Assert.True(kept.Accept);
        Assert.Equal(0.1 * Math.Clamp(Math.Pow(0.5, -alpha) * Math.Pow(1e-4, 0.04) * 0.9, 0.2, 10), kept.NextStep, 1e-15);
        Assert.Equal(0.5, memory.PreviousError);

        // Rejected: shrink, and remember it so that the next kept step does not grow.
        StepDecision rejected = pi.Decide(new StepAttempt(0.1, 0.1, 4.0, 5, 1.0), ref memory);
        Assert.False(rejected.Accept);
        Assert.Equal(0.1 * 0.9 * Math.Pow(4.0, -alpha), rejected.NextStep, 1e-15);
        Assert.True(memory.RejectedLast);
        StepDecision afterRejection = pi.Decide(new StepAttempt(0.05, 0.05, 1e-6, 5, 1.0), ref memory);
        Assert.Equal(0.05, afterRejection.NextStep);

        // Non-finite: the smallest factor; capped by the largest step when kept.
        StepDecision nonFinite = pi.Decide(new StepAttempt(0.1, 0.1, double.NaN, 5, 1.0), ref memory);
        Assert.Equal(0.1 * 0.2, nonFinite.NextStep, 1e-15);
        Assert.True(memory.LastWasNonFinite);
        memory = ControllerMemory.Initial;
        Assert.Equal(0.3, pi.Decide(new StepAttempt(0.1, 0.1, 1e-9, 5, 0.3), ref memory).NextStep);
    }

    [Fact]
    public void ConstantStepSize_AsController_IsTheFixedStepOption()
    {
        OdeResult byOption = SolveDecay(new ClassicalRungeKutta4(), 1.05, new OdeOptions<HostState> { FixedStep = 0.1 });
        OdeResult byController = SolveDecay(new ClassicalRungeKutta4(), 1.05, new OdeOptions<HostState> { Controller = new ConstantStepSize { Step = 0.1 } });
        OdeResult byInitialStep = SolveDecay(new ClassicalRungeKutta4(), 1.05, new OdeOptions<HostState> { Controller = new ConstantStepSize(), InitialStep = 0.1 });
        Assert.Equal(11, byOption.AcceptedSteps);
        Assert.Equal(byOption.FinalState, byController.FinalState);
        Assert.Equal(byOption.FinalState, byInitialStep.FinalState);
        Assert.Equal(11, byInitialStep.AcceptedSteps);

        // An adaptive method under a constant controller takes exactly the steps asked for, error estimate unused.
        OdeResult adaptive = SolveDecay(new DormandPrince5(), 1.0, new OdeOptions<HostState> { Controller = new ConstantStepSize { Count = 3 } });
        Assert.Equal(3, adaptive.AcceptedSteps);
        Assert.Equal(0, adaptive.RejectedSteps);
    }

    [Fact]
    public void FixedStepMethod_NeedsAConstantControllerWithAStep()
    {
        Assert.Throws<ArgumentException>(() => SolveDecay(new Euler(), 1, new OdeOptions<HostState> { Controller = new PiController() }));
        Assert.Throws<ArgumentException>(() => SolveDecay(new Euler(), 1, new OdeOptions<HostState> { Controller = new ConstantStepSize() }));
        Assert.Throws<ArgumentException>(() => SolveDecay(new DormandPrince5(), 1, new OdeOptions<HostState> { Controller = new ConstantStepSize() }));

        // The default controller of a fixed-step method: constant steps of the initial step.
        OdeResult euler = SolveDecay(new Euler(), 1.05, new OdeOptions<HostState> { InitialStep = 0.1 });
        Assert.Equal(11, euler.AcceptedSteps);
        Assert.Equal(Math.Pow(0.9, 10) * 0.95, euler.FinalState[0], 1e-14);
        Assert.Throws<ArgumentException>(() => new ConstantStepSize { Step = -1 });
        Assert.Throws<ArgumentException>(() => new ConstantStepSize { Count = 0 });
    }

    [Fact]
    public void EveryMethodsDefaultController_IsAdaptiveExactlyWhenTheMethodIs()
    {
        Assert.All(MethodCatalog.All, m => Assert.Equal(m.IsAdaptive, m.DefaultController.IsAdaptive));
        Assert.Same(IController.Dop853, MethodCatalog.Find("dop853")!.DefaultController);
        Assert.Same(PiController.Default, MethodCatalog.Find("dopri5")!.DefaultController);
    }
}
