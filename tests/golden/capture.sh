#!/usr/bin/env bash
# Golden outputs of the default experiments, to check that a refactoring leaves every number unchanged:
#   bash tests/golden/capture.sh OUT_DIR            (after a Release build)
#   /usr/bin/python3 tests/golden/compare.py BASELINE_DIR OUT_DIR [--tol 1e-12]
# Writes, under OUT_DIR: the quickstart (ibflow run, default experiment), one small run per optimizer and a
# documented Optimizer:Blocks composite (flow and discrete, h = 1 and h = 0.3), two compares (Adam; Muon with its
# Newton–Schulz companion) and one verify (their JSON), on the cpu
# backend (and, with GOLDEN_ILGPU=1, the quickstart on ilgpu-cpu). OUT_DIR should lie outside the repository.
set -uo pipefail
out=${1:?usage: capture.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
ibflow="$repo/src/ImplicitBias.Flow.Cli/bin/Release/net10.0/ibflow"
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -rf "${out:?}"/*
cd "$repo" || exit 1
# A run that ends failed (discrete GD diverges here) exits non-zero; the exit status is part of the output.
step() { local name=$1; shift; "$@" > "$out/$name" 2> "$out/$name.err"; echo "{\"rc\": $?}" > "$out/$name.rc.json"; }
step quickstart.log "$ibflow" run --out "$out/quickstart" --Outputs:Plots=false
# The ILGPU CPU accelerator is slow (a minute or two here): only with GOLDEN_ILGPU=1.
if [[ "${GOLDEN_ILGPU:-0}" == 1 ]]; then
  step quickstart-ilgpu.log "$ibflow" run --out "$out/quickstart-ilgpu" --Outputs:Plots=false --Solver:Backend=ilgpu-cpu --Stop:MaxTime=20
fi
step flows.log "$ibflow" run "$here/all-optimizers.json" --out "$out/flows"
step discrete.log "$ibflow" run "$here/all-optimizers.json" --out "$out/discrete" --Solver:Method=discrete --Solver:Step=1 --Stop:MaxSteps=300
# A step that is not a power of two (t_n = n h rounds), and a compare with a polar optimizer (its Newton–Schulz companion).
step discrete-h.log "$ibflow" run "$here/all-optimizers.json" --out "$out/discrete-h" --Solver:Method=discrete --Solver:Step=0.3 --Stop:MaxSteps=120
step compare.json "$ibflow" compare experiments/adam.json --h 1,0.5,0.25 --time 8 --refine 0 --out "$out/compare" --json
step compare-muon.json "$ibflow" compare experiments/muon.json --h 1,0.5,0.25 --time 4 --refine 0 --out "$out/compare-muon" --json
step verify.json "$ibflow" verify "$here/all-optimizers.json" --json --Stop:TargetLogLoss=-8
echo "captured into $out"
