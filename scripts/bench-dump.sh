#!/usr/bin/env bash
# CPU cost of `garssld dump` per minute of 1080p30 H.264 + AAC media, against
# a full decode by `ffmpeg -i FILE -f null -` measured in the same run, and
# garssld's peak RSS. Each command runs RUNS times; the median is reported.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
cache=${BENCH_CACHE:-/var/tmp/garssld-bench}
mkdir -p "$cache"
clip="$cache/1080p30-60s.mp4"
if [ ! -s "$clip" ]; then
  echo "making $clip (once)…"
  ffmpeg -nostdin -hide_banner -loglevel error -y \
    -f lavfi -i "testsrc2=s=1920x1080:r=30:d=60" -f lavfi -i "sine=f=440:sample_rate=48000:d=60" \
    -c:v libx264 -preset veryfast -b:v 6M -c:a aac -b:a 128k -ac 2 "$clip.tmp.mp4"
  mv "$clip.tmp.mp4" "$clip"
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# measure NAME CMD…: prints "user+sys seconds, peak RSS KiB" of the median run.
measure() {
  local name=$1; shift
  local results=()
  for _ in $(seq "$RUNS"); do
    rm -rf "$out/w"; mkdir -p "$out/w"
    /usr/bin/time -f "%U %S %M" -o "$out/time" "$@" >/dev/null 2>"$out/err" || { cat "$out/err"; exit 1; }
    results+=("$(awk '{printf "%.2f %d\n", $1+$2, $3}' "$out/time")")
  done
  printf '%s\n' "${results[@]}" | sort -n | sed -n "$(( (RUNS+1)/2 ))p" | { read -r cpu rss; echo "$name $cpu $rss"; }
}

base=$(measure ffmpeg-null ffmpeg -nostdin -hide_banner -loglevel error -i "$clip" -f null -)
dflt=$(measure dump-default bin/garssld dump --input "$clip" --out "$out/w")
skip=$(measure dump-noref bin/garssld dump --input "$clip" --out "$out/w" --skip-frame noref)

echo
echo "60 s of 1920x1080@30 H.264 + AAC, median of $RUNS runs (CPU = user+sys seconds per minute of media)"
printf '%-14s %8s %8s %12s\n' command cpu_s ratio peak_rss_MB
for row in "$base" "$dflt" "$skip"; do
  read -r name cpu rss <<<"$row"
  read -r _ bcpu _ <<<"$base"
  printf '%-14s %8.2f %8.2f %12.1f\n' "$name" "$cpu" "$(awk -v a="$cpu" -v b="$bcpu" 'BEGIN{print a/b}')" "$(awk -v r="$rss" 'BEGIN{print r/1024}')"
done
