#!/usr/bin/env bash
# Soak: a live MPEG-TS stream over UDP (ffmpeg -re -stream_loop -1, as a
# camera sends) through `garssld dump` for SOAK_SECONDS (default one hour).
# Every minute it records garssld's resident memory (VmRSS, and its anonymous
# part), its Go heap (from GODEBUG=gctrace) and the windows written; at the
# end it prints RSS at 10 and 60 minutes. Extra environment (for example
# MALLOC_ARENA_MAX=2) is passed to garssld, to see where the memory goes;
# GARSSLD names another build to compare.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
SECONDS_TOTAL=${SOAK_SECONDS:-3600}
LABEL=${SOAK_LABEL:-default}
GARSSLD=${GARSSLD:-bin/garssld}
cache=${BENCH_CACHE:-/var/tmp/garssld-bench}
mkdir -p "$cache"
clip=$(make_clip "$cache/720p25-60s.ts" 1280x720 25 -g 50 -bf 0 -b:v 2M -b:a 96k)
work=$(mktemp -d)
port=$(( 20000 + RANDOM % 20000 ))
cleanup() {
  [ -n "${dump_pid:-}" ] && kill "$dump_pid" 2>/dev/null || true
  [ -n "${send_pid:-}" ] && kill "$send_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ffmpeg -nostdin -hide_banner -loglevel error -re -stream_loop -1 -i "$clip" -c copy \
  -f mpegts "udp://127.0.0.1:$port?pkt_size=1316" &
send_pid=$!
mkdir -p "$work/w"
GODEBUG=gctrace=1 "$GARSSLD" dump --input "udp://127.0.0.1:$port" --out "$work/w" \
  --skip-frame noref --frame-pick all >"$work/stdout" 2>"$work/stderr" &
dump_pid=$!

log="$cache/soak-$LABEL.tsv"
printf 'minute\trss_kib\trss_anon_kib\tgo_heap_mib\twindows\n' >"$log"
for minute in $(seq 1 $(( SECONDS_TOTAL / 60 ))); do
  sleep 60
  kill -0 "$dump_pid" 2>/dev/null || { echo "garssld exited early:"; tail -20 "$work/stderr"; exit 1; }
  rss=$(awk '/^VmRSS:/{print $2}' "/proc/$dump_pid/status")
  anon=$(awk '/^RssAnon:/{print $2}' "/proc/$dump_pid/status")
  # gctrace: "gc N @…: … A->B->C MB, …": C is the heap live after the GC.
  heap=$(grep -o '[0-9]*->[0-9]*->[0-9]* MB' "$work/stderr" | tail -1 | sed 's/.*->\([0-9]*\) MB/\1/')
  windows=$(grep -c '^w' "$work/stdout" || true)
  # Written windows are removed, so a long soak does not fill the disk.
  find "$work/w" -type f -mmin +1 -delete
  printf '%d\t%d\t%d\t%s\t%d\n' "$minute" "$rss" "$anon" "${heap:-?}" "$windows" | tee -a "$log"
done

echo
echo "soak $LABEL: ${SECONDS_TOTAL}s of 1280x720@25 H.264 + AAC over UDP, garssld dump --skip-frame noref --frame-pick all (log: $log)"
awk -F'\t' 'NR>1 && ($1==10 || $1=='"$(( SECONDS_TOTAL / 60 ))"') {printf "  minute %3d: RSS %6.1f MB (anonymous %6.1f MB), Go heap %s MB, %d windows\n", $1, $2/1024, $3/1024, $4, $5}' "$log"
