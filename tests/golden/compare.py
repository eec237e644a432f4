#!/usr/bin/python3
"""Compares two folders written by capture.sh: every .csv, .npy and .json number to a relative tolerance.

    /usr/bin/python3 tests/golden/compare.py BASELINE_DIR NEW_DIR [--tol 1e-12]

Relative difference of two numbers a, b: |a - b| / max(|a|, |b|, 1e-300); NaN equals NaN. Wall-clock and
version fields (wallSeconds, seconds, versions, device, ...) are ignored. Exits 1 when a file is missing on
one side, a text value differs, or the largest relative difference exceeds the tolerance.
"""
import csv
import json
import math
import os
import sys

import numpy as np

IGNORED = {"wallSeconds", "seconds", "versions", "device", "elapsed", "wall", "Seconds", "created", "timestamp", "kktSeconds"}
worst = [0.0, ""]
problems = []


def rel(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return 0.0
    if a == b:
        return 0.0
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def note(d, where):
    if d > worst[0]:
        worst[0], worst[1] = d, where


def number(s):
    try:
        return float(s)
    except ValueError:
        return None


def compare_json(a, b, where):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k in IGNORED or "second" in k.lower() and "Half" not in k:
                continue
            if k not in a or k not in b:
                problems.append(f"{where}.{k}: only on one side")
                continue
            compare_json(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            problems.append(f"{where}: lengths {len(a)} and {len(b)}")
            return
        for i, (x, y) in enumerate(zip(a, b)):
            compare_json(x, y, f"{where}[{i}]")
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        note(rel(float(a), float(b)), where)
    elif a != b:
        problems.append(f"{where}: {a!r} and {b!r}")


def compare_csv(pa, pb, where):
    with open(pa) as fa, open(pb) as fb:
        ra, rb = list(csv.reader(fa)), list(csv.reader(fb))
    if len(ra) != len(rb):
        problems.append(f"{where}: {len(ra)} and {len(rb)} rows")
        return
    header = ra[0] if ra else []
    for i, (x, y) in enumerate(zip(ra, rb)):
        if len(x) != len(y):
            problems.append(f"{where} row {i}: {len(x)} and {len(y)} fields")
            continue
        for j, (u, v) in enumerate(zip(x, y)):
            col = header[j] if j < len(header) else str(j)
            if "second" in col.lower() or "wall" in col.lower():
                continue
            nu, nv = number(u), number(v)
            if nu is not None and nv is not None:
                note(rel(nu, nv), f"{where} row {i} {col}")
            elif u != v:
                problems.append(f"{where} row {i} {col}: {u!r} and {v!r}")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    tol = float(sys.argv[sys.argv.index("--tol") + 1]) if "--tol" in sys.argv else 1e-12
    if "--tol" in sys.argv:
        args.remove(sys.argv[sys.argv.index("--tol") + 1])
    base, new = args
    files = 0
    for root, _, names in os.walk(base):
        for name in sorted(names):
            pa = os.path.join(root, name)
            rp = os.path.relpath(pa, base)
            pb = os.path.join(new, rp)
            if not name.endswith((".csv", ".npy", ".json")) or name == "config.json" and False:
                continue
            if not os.path.exists(pb):
                problems.append(f"{rp}: missing in {new}")
                continue
            files += 1
            if name.endswith(".npy"):
                a, b = np.load(pa), np.load(pb)
                if a.shape != b.shape:
                    problems.append(f"{rp}: shapes {a.shape} and {b.shape}")
                    continue
                with np.errstate(invalid='ignore', divide='ignore'):
                    d = np.abs(np.subtract(a, b, where=np.isfinite(a) & np.isfinite(b), out=np.full(a.shape, np.inf))) / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-300)
                d[(a == b) | (np.isnan(a) & np.isnan(b))] = 0
                if d.size:
                    k = int(np.argmax(d))
                    note(float(d.flat[k]), f"{rp}[{k}]")
            elif name.endswith(".csv"):
                compare_csv(pa, pb, rp)
            else:
                with open(pa) as fa, open(pb) as fb:
                    compare_json(json.load(fa), json.load(fb), rp)
    for root, _, names in os.walk(new):
        for name in names:
            rp = os.path.relpath(os.path.join(root, name), new)
            if name.endswith((".csv", ".npy", ".json")) and not os.path.exists(os.path.join(base, rp)):
                problems.append(f"{rp}: new in {new}")
    for p in problems[:30]:
        print("DIFF", p)
    print(f"{files} files compared; max relative difference {worst[0]:.3g} at {worst[1] or '-'}")
    ok = not problems and worst[0] <= tol
    print("SAME within", tol if ok else "", "" if ok else f"NOT the same (tolerance {tol})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
