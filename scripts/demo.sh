#!/usr/bin/env bash
# The demo: the bundled clip through capture and windowing (garssld dump),
# then one window through the GAR loop against omnisim, the simulated
# Qwen2.5-Omni (garssld locate). omnisim finds the red square by its colour
# (testdata/sample/beeping-square.truth.json); it does not listen to anything.
set -euo pipefail
cd "$(dirname "$0")/.."
sample=testdata/sample/beeping-square.mp4
work=$(mktemp -d /tmp/garssld-demo.XXXXXX)
omnisim_pid=""
cleanup() { [ -n "$omnisim_pid" ] && kill "$omnisim_pid" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "== 1. garssld dump: $sample → 3-second windows in $work/windows"
bin/garssld dump --input "$sample" --out "$work/windows"

echo
echo "== 2. omnisim (a simulator, not the model) on a free port"
bin/omnisim --listen 127.0.0.1:0 --port-file "$work/port" --seed 7 --time-scale 0.2 \
  --truth testdata/sample/beeping-square.truth.json --log-level warn >"$work/omnisim.log" 2>&1 &
omnisim_pid=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { echo "omnisim did not start:"; cat "$work/omnisim.log"; exit 1; }
endpoint="http://127.0.0.1:$(cat "$work/port")/v1"
echo "omnisim at $endpoint"

echo
echo "== 3. garssld locate on window 2 (the GAR loop: locate ∥ audio → 5 analysis trials → gate → refine)"
bin/garssld locate --image "$work/windows/w000002.jpg" --audio "$work/windows/w000002.wav" \
  --endpoint "$endpoint" --hfov 87 | tee "$work/detection.json"

echo
echo "== summary"
awk '/"status"/{print "status:", $2} /"bbox_model"/{getline a; getline b; getline c; getline d; gsub(/[ ,]/,"",a); gsub(/[ ,]/,"",b); gsub(/[ ,]/,"",c); gsub(/[ ,]/,"",d); print "final box (model pixels):", a, b, c, d; exit}' "$work/detection.json"
echo "the red (beeping) square in w000002.jpg is where omnisim's colour match put the box; see $work/windows/w000002.jpg"
