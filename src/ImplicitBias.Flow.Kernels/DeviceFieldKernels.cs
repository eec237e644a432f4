using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Algorithms.ScanReduceOperations;
using ILGPU.Runtime;
using ImplicitBias.Flow.Flows.Field;

namespace ImplicitBias.Flow.Kernels;

/// <summary>
/// The loaded kernels of <see cref="FlowKernels"/> for one accelerator, loaded once per accelerator and shared by every
/// <see cref="DeviceFieldPrimitives"/> on it (<see cref="For"/>). The maps of the built-in operators are loaded up front;
/// another operator's on its first use.
/// </summary>
internal sealed class DeviceFieldKernels
{
    private static readonly ConditionalWeakTable<Accelerator, DeviceFieldKernels> Loaded = [];
    private readonly Accelerator _accelerator;
    private readonly Dictionary<Type, Delegate> _maps = [];
    private readonly Lock _lock = new();

    private DeviceFieldKernels(Accelerator accelerator)
    {
        _accelerator = accelerator;
        Fill = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, double>(FlowKernels.Fill);
        AbsoluteValue = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>>(FlowKernels.AbsoluteValue);
        Square = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>>(FlowKernels.Square);
        DotTerms = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>>(FlowKernels.DotTerms);
        Sum = accelerator.CreateReduction<double, Stride1D.Dense, AddDouble>();
        Max = accelerator.CreateReduction<double, Stride1D.Dense, MaxDouble>();
        _ = Map<ScaleOperator>();
        _ = Map<SignOperator>();
        _ = Map<SmoothSignOperator>();
        _ = Map2<AdamRatioOperator>();
        _ = Map2<MomentumSourceOperator>();
        _ = Map2<SecondMomentSourceOperator>();
    }

    /// <summary>The kernels of <paramref name="accelerator"/>, loaded on the first call for it.</summary>
    public static DeviceFieldKernels For(Accelerator accelerator) => Loaded.GetValue(accelerator, a => new DeviceFieldKernels(a));

    /// <summary><see cref="FlowKernels.Fill"/>.</summary>
    public Action<Index1D, ArrayView<double>, double> Fill { get; }

    /// <summary><see cref="FlowKernels.AbsoluteValue"/>.</summary>
    public Action<Index1D, ArrayView<double>, ArrayView<double>> AbsoluteValue { get; }

    /// <summary><see cref="FlowKernels.Square"/>.</summary>
    public Action<Index1D, ArrayView<double>, ArrayView<double>> Square { get; }

    /// <summary><see cref="FlowKernels.DotTerms"/>.</summary>
    public Action<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>> DotTerms { get; }

    /// <summary>A sum reduction into a one-element view.</summary>
    public Reduction<double, Stride1D.Dense> Sum { get; }

    /// <summary>A max reduction into a one-element view.</summary>
    public Reduction<double, Stride1D.Dense> Max { get; }

    /// <summary><see cref="FlowKernels.Map{TOp}"/> for <typeparamref name="TOp"/>.</summary>
    public Action<Index1D, ArrayView<double>, ArrayView<double>, TOp> Map<TOp>()
        where TOp : struct, IElementwise
    {
        lock (_lock)
        {
            if (!_maps.TryGetValue(typeof(TOp), out Delegate? kernel))
            {
                kernel = _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>, TOp>(FlowKernels.Map);
                _maps.Add(typeof(TOp), kernel);
            }

            return (Action<Index1D, ArrayView<double>, ArrayView<double>, TOp>)kernel;
        }
    }

    /// <summary><see cref="FlowKernels.Map2{TOp}"/> for <typeparamref name="TOp"/>.</summary>
    public Action<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<double>, TOp> Map2<TOp>()
        where TOp : struct, IElementwise2
    {
        lock (_lock)
        {
            if (!_maps.TryGetValue(typeof(TOp), out Delegate? kernel))
            {
                kernel = _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<double>, TOp>(FlowKernels.Map2);
                _maps.Add(typeof(TOp), kernel);
            }

            return (Action<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<double>, TOp>)kernel;
        }
    }
}
