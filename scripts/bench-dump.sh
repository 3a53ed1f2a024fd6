#!/usr/bin/env bash
# CPU cost of `garssld dump` per minute of 1080p30 H.264 + AAC media, against
# the ffmpeg CLI decoding the same file in the same run, and garssld's peak
# RSS. Two clips: x264's defaults (B-frames, as files and phones have) and a
# camera-like stream without B-frames (-bf 0, as most IP cameras send).
# Rows change one factor at a time:
#   ffmpeg-null         ffmpeg -i F -f null -        (a full decode)
#   ffmpeg-lf-noref     + -skip_loop_filter noref    (what garssld does by default)
#   ffmpeg-lf+sf-noref  + -skip_frame noref          (what --skip-frame noref adds)
#   dump-default        garssld dump                 (skip_loop_filter=noref)
#   dump-noref          garssld dump --skip-frame noref
# Each command runs RUNS times; the median is reported.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
RUNS=${RUNS:-3}
cache=${BENCH_CACHE:-/var/tmp/garssld-bench}
mkdir -p "$cache"

bframes=$(make_clip "$cache/1080p30-60s.mp4" 1920x1080 30 -b:v 6M -b:a 128k)
camera=$(make_clip "$cache/1080p30-60s-bf0.mp4" 1920x1080 30 -b:v 6M -bf 0 -g 60 -b:a 128k)

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

measure() { measure_median "$RUNS" "$out" "$@"; }

ff="ffmpeg -nostdin -hide_banner -loglevel error"
for c in "$bframes" "$camera"; do
  rows=(
    "$(measure ffmpeg-null $ff -i "$c" -f null -)"
    "$(measure ffmpeg-lf-noref $ff -skip_loop_filter noref -i "$c" -f null -)"
    "$(measure ffmpeg-lf+sf-noref $ff -skip_loop_filter noref -skip_frame noref -i "$c" -f null -)"
    "$(measure dump-default bin/garssld dump --input "$c" --out "$out/w")"
    "$(measure dump-noref bin/garssld dump --input "$c" --out "$out/w" --skip-frame noref)"
  )
  echo
  echo "$(basename "$c"): 60 s of 1920x1080@30 H.264 + AAC, median of $RUNS runs (CPU = user+sys seconds per minute of media; ratio against ffmpeg-null)"
  printf '%-20s %8s %8s %12s\n' command cpu_s ratio peak_rss_MB
  read -r _ bcpu _ <<<"${rows[0]}"
  for row in "${rows[@]}"; do
    read -r name cpu rss <<<"$row"
    printf '%-20s %8.2f %8.2f %12.1f\n' "$name" "$cpu" "$(awk -v a="$cpu" -v b="$bcpu" 'BEGIN{print a/b}')" "$(awk -v r="$rss" 'BEGIN{print r/1024}')"
  done
done
