"""The NumPy + OpenBLAS side of the README's speed comparison: DGEMM on a square n = 1000 and 2000 product and one
gradient of the paper's model (m = 2048, d = 784, widths 100, 20, 10, squared ReLU, exponential loss, relative
gradient as LossEvaluator computes it).

    python3 numpy_reference.py THREADS cpu|wall

`cpu` times with process CPU time (fair on a shared machine with THREADS = 1), `wall` with the wall clock.
Debian: apt-get install python3-numpy python3-threadpoolctl libopenblas0-pthread. Where OPENBLAS_CORETYPE or
OPENBLAS_L2_SIZE are set (older OpenBLAS builds need them on some processors), unset both for this command only,
and check the kernel it prints.
"""
import sys
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

threads = int(sys.argv[1])
clock = time.process_time if sys.argv[2] == "cpu" else time.perf_counter
with threadpool_limits(threads):
    print([(i.get("internal_api"), i.get("architecture"), i.get("num_threads")) for i in threadpool_info()])
    for n in (1000, 2000):
        a = np.random.rand(n, n)
        b = np.random.rand(n, n)
        a @ b
        ts = []
        for _ in range(5):
            t = clock()
            a @ b
            ts.append(clock() - t)
        ts.sort()
        print("openblas dgemm n=%d threads %d (%s): best %.1f GFLOP/s, median %.1f" % (n, threads, sys.argv[2], 2 * n**3 / ts[0] / 1e9, 2 * n**3 / ts[2] / 1e9))
    rng = np.random.default_rng(1)
    m, d = 2048, 784
    X = rng.standard_normal((m, d))
    y = np.sign(rng.standard_normal(m))
    for k in (100, 20, 10):
        W = rng.standard_normal((k, d)) / np.sqrt(d)
        u = rng.standard_normal(k) / np.sqrt(k)

        def grad():
            Z = X @ W.T
            A = np.where(Z > 0, Z * Z, 0.0)
            q = y * (A @ u)
            s = -q
            mx = s.max()
            w = np.exp(s - mx)
            total = w.sum()
            c = -(w / total) * y
            gu = A.T @ c
            D = (c[:, None] * u[None, :]) * np.where(Z > 0, 2 * Z, 0.0)
            gW = D.T @ X
            return mx + np.log(total), gW, gu

        grad()
        ts = []
        for _ in range(10):
            t = clock()
            grad()
            ts.append(clock() - t)
        ts.sort()
        flops = 4 * m * d * k + 6 * m * k
        print("numpy gradient m=2048 d=784 k=%d threads %d (%s): best %.2f ms (%.1f GFLOP/s), median %.2f ms" % (k, threads, sys.argv[2], ts[0] * 1e3, flops / ts[0] / 1e9, ts[5] * 1e3))
