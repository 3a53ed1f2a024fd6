#!/usr/bin/env bash
# CPU cost of `garssld dump` per minute of 1080p30 H.264 + AAC media, against
# the ffmpeg CLI decoding the same file in the same run, and garssld's peak
# RSS. Clips (60 s each):
#   1080p30-60s.mp4          x264's defaults (B-frames, as files and phones have)
#   1080p30-60s-bf0.mp4      camera-like: no B-frames (-bf 0, as most IP cameras send), 2 s GOP
#   1080p30-60s-bf0-g30.mp4  camera-like, 1 s GOP: issue 17's goal clip
#   1080p30-60s-bf0-g120.mp4 camera-like, 4 s GOP
#   1080p30-60s-hevc.mp4     HEVC (x265), no B-frames, 1 s GOP, closed
#   1080p30-60s-bf0-g600.mp4 camera-like, 20 s GOP: more than the 10 s packet
#                            buffer holds, so exact falls back to a full decode
# Rows change one factor at a time:
#   ffmpeg-null         ffmpeg -i F -f null -        (a full decode; the anchor)
#   ffmpeg-lf-noref     + -skip_loop_filter noref    (what garssld does by default)
#   ffmpeg-lf+sf-noref  + -skip_frame noref          (what --skip-frame noref adds)
#   dump-all            garssld dump --frame-pick all (every frame decoded, skip_loop_filter=noref;
#                                                      garssld's default before GOP-aware decoding)
#   dump-noref          garssld dump --frame-pick all --skip-frame noref
#   dump-exact          garssld dump                 (frame_pick exact, the default; one decoder
#                                                      thread, dump's default for GOP-aware picks)
#   dump-exact-auto     garssld dump --threads auto  (exact on FFmpeg's automatic frame threads,
#                                                      as dump-all: the thread default's own row)
#   dump-nearest-key    garssld dump --frame-pick nearest_key (one thread too)
# The ffmpeg-lf and dump-noref rows run on the first two clips only.
# Each command runs RUNS times; the median is reported.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
RUNS=${RUNS:-3}
cache=${BENCH_CACHE:-/var/tmp/garssld-bench}
mkdir -p "$cache"

bframes=$(make_clip "$cache/1080p30-60s.mp4" 1920x1080 30 -b:v 6M -b:a 128k)
camera=$(make_clip "$cache/1080p30-60s-bf0.mp4" 1920x1080 30 -b:v 6M -bf 0 -g 60 -b:a 128k)
cam1s=$(make_clip "$cache/1080p30-60s-bf0-g30.mp4" 1920x1080 30 -b:v 6M -bf 0 -g 30 -sc_threshold 0 -b:a 128k)
cam4s=$(make_clip "$cache/1080p30-60s-bf0-g120.mp4" 1920x1080 30 -b:v 6M -bf 0 -g 120 -sc_threshold 0 -b:a 128k)
hevc=$(make_clip "$cache/1080p30-60s-hevc.mp4" 1920x1080 30 -c:v libx265 -preset ultrafast -b:v 4M \
  -x265-params log-level=error:keyint=30:min-keyint=30:scenecut=0:bframes=0:open-gop=0 -b:a 128k)
longgop=$(make_clip "$cache/1080p30-60s-bf0-g600.mp4" 1920x1080 30 -b:v 6M -bf 0 -g 600 -keyint_min 600 -sc_threshold 0 -b:a 128k)

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

measure() { measure_median "$RUNS" "$out" "$@"; }

ff="ffmpeg -nostdin -hide_banner -loglevel error"
for c in "$bframes" "$camera" "$cam1s" "$cam4s" "$hevc" "$longgop"; do
  rows=("$(measure ffmpeg-null $ff -i "$c" -f null -)")
  if [ "$c" = "$bframes" ] || [ "$c" = "$camera" ]; then
    rows+=(
      "$(measure ffmpeg-lf-noref $ff -skip_loop_filter noref -i "$c" -f null -)"
      "$(measure ffmpeg-lf+sf-noref $ff -skip_loop_filter noref -skip_frame noref -i "$c" -f null -)"
    )
  fi
  rows+=("$(measure dump-all bin/garssld dump --input "$c" --out "$out/w" --frame-pick all)")
  if [ "$c" = "$bframes" ] || [ "$c" = "$camera" ]; then
    rows+=("$(measure dump-noref bin/garssld dump --input "$c" --out "$out/w" --frame-pick all --skip-frame noref)")
  fi
  rows+=(
    "$(measure dump-exact bin/garssld dump --input "$c" --out "$out/w")"
    "$(measure dump-exact-auto bin/garssld dump --input "$c" --out "$out/w" --threads auto)"
    "$(measure dump-nearest-key bin/garssld dump --input "$c" --out "$out/w" --frame-pick nearest_key)"
  )
  echo
  echo "$(basename "$c"): 60 s of 1920x1080@30 + AAC, median of $RUNS runs (CPU = user+sys seconds per minute of media; ratio against ffmpeg-null)"
  printf '%-20s %8s %8s %12s\n' command cpu_s ratio peak_rss_MB
  read -r _ bcpu _ <<<"${rows[0]}"
  for row in "${rows[@]}"; do
    read -r name cpu rss <<<"$row"
    printf '%-20s %8.2f %8.2f %12.1f\n' "$name" "$cpu" "$(awk -v a="$cpu" -v b="$bcpu" 'BEGIN{print a/b}')" "$(awk -v r="$rss" 'BEGIN{print r/1024}')"
  done
done
