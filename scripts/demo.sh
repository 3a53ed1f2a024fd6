#!/usr/bin/env bash
# The demo: the whole product on one machine. omnisim (a simulator of
# Qwen2.5-Omni, not the model) and a private mosquitto start on free local
# ports; `garssld run` captures the bundled clip, looped and read at its
# own rate like a camera, runs each 3-second window through the GAR loop
# and publishes to MQTT; this script prints the detections, and the
# track events beside them (a track is one sound source over time), for about
# DEMO_SECONDS (20) seconds, asks `garssld status`, and stops everything.
# omnisim finds the red square by its colour
# (testdata/sample/beeping-square.truth.json); it does not listen to
# anything.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
seconds=${DEMO_SECONDS:-20}
work=/tmp/garssld-demo
rm -rf "$work"
mkdir -p "$work"

trap stop_pids EXIT

echo "== omnisim, the simulated model server, on a free port"
start_omnisim "$work" --seed 7 --time-scale 0.2 \
	--truth testdata/sample/beeping-square.truth.json --log-level warn || fail "omnisim did not start"
pids+=("$omnisim_pid")
endpoint=$omnisim_url
echo "   $endpoint"

echo "== mosquitto, a private broker, on a free port"
start_mosquitto "$work" || fail "mosquitto did not start"
pids+=("$mosquitto_pid")
port=$mosquitto_port
echo "   tcp://127.0.0.1:$port"

# configs/demo.hcl with this run's addresses.
sed -e "s|http://127.0.0.1:8000/v1|$endpoint|" \
	-e "s|tcp://127.0.0.1:1883|tcp://127.0.0.1:$port|" \
	-e "s|/tmp/garssld-demo/mqtt|$work/mqtt|" \
	-e "s|127.0.0.1:9464|127.0.0.1:0|" \
	configs/demo.hcl >"$work/garssld.hcl"
bin/garssld check --config "$work/garssld.hcl" >/dev/null

echo "== garssld run: the clip as a camera, 3-second windows, detections to MQTT"
# Subscribe first, so that the first detection is not missed.
mosquitto_sub -h 127.0.0.1 -p "$port" -t 'garssl/demo/+/detections' -t 'garssl/demo/+/events' -W "$seconds" >"$work/detections.jsonl" 2>/dev/null &
sub=$!
bin/garssld run --config "$work/garssld.hcl" 2>"$work/garssld.log" &
garssld=$!
pids+=("$garssld")
for _ in $(seq 100); do grep -q '"garssld is running"' "$work/garssld.log" && break; sleep 0.1; done
grep -q '"garssld is running"' "$work/garssld.log" || fail "garssld did not start" "$work/garssld.log"
http=$(grep '"garssld is running"' "$work/garssld.log" | jq -r .http)
echo "   metrics and health on http://$http"
echo
printf '   %4s  %-16s  %-10s  %-21s  %-8s  %s\n' seq status label 'box (x1,y1,x2,y2 px)' bearing 'age at publish'
# One readable line per detection, and per track event, as they arrive.
tail -n +1 -f "$work/detections.jsonl" --pid "$sub" 2>/dev/null | jq -r --unbuffered '
	def pad($n): tostring | if length < $n then . + (" " * ($n - length)) else . end;
	def lpad($n): tostring | if length < $n then (" " * ($n - length)) + . else . end;
	def deg: if . then (((. * 10) | round) / 10 | tostring) + "°" else "-" end;
	if .schema == "garssl.event/v1" then
	"         event \(.type | pad(6)) track \(.track.id[-6:])  \(.track.label | pad(10))  smoothed \(.track.smoothed_bbox | tostring | pad(21))  \(.track.smoothed_bearing_deg | deg | pad(8))  \(.reason // "")"
	else
	(.sources[0] // {}) as $s |
	"   \(.seq | lpad(4))  \(.status | pad(16))  \((.audio.label // "") | if . == "" then "-" else . end | pad(10))  \(($s.bbox // "-") | tostring | pad(21))  \((if $s.bearing_deg then ((($s.bearing_deg * 10) | round) / 10 | tostring) + "°" else "-" end) | pad(8))  \(.latency_ms.age_at_publish) ms\(if $s.track_id then "  track " + $s.track_id[-6:] else "" end)"
	end'
wait "$sub" || true

echo
echo "== garssld status"
bin/garssld status --http "$http" || true

echo
echo "== stopping garssld (SIGTERM): windows at the model finish, 'stopped' is published"
kill -TERM "$garssld"
for _ in $(seq 600); do kill -0 "$garssld" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$garssld" 2>/dev/null; then
	kill -KILL "$garssld"
	fail "garssld did not stop within 60 s of SIGTERM" "$work/garssld.log"
fi
code=0
wait "$garssld" || code=$?
[ "$code" -eq 0 ] || fail "garssld exited with status $code" "$work/garssld.log"
n=$(grep -c '"garssl.detection/v1"' "$work/detections.jsonl" || true)
e=$(grep -c '"garssl.event/v1"' "$work/detections.jsonl" || true)
echo "   garssld exited cleanly; $n detections and $e track events in ${seconds} s"
echo
echo "config:      $work/garssld.hcl   (from configs/demo.hcl)"
echo "logs:        $work/garssld.log   $work/omnisim.log   $work/mosquitto.log"
echo "detections:  $work/detections.jsonl   (one payload per line, schema gar/detection.v1.schema.json)"
