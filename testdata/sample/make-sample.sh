#!/bin/sh
# Regenerates the bundled demo clip: a red square that beeps while it moves
# across a dark background, next to a blue square that stays still and silent.
# The GAR demo should put its box on the red square.
set -eu
out="${1:-$(dirname "$0")/beeping-square.mp4}"
ffmpeg -nostdin -hide_banner -loglevel error -y \
  -f lavfi -i "color=c=0x303030:s=640x360:r=25:d=12" \
  -f lavfi -i "color=c=0xff0000:s=72x72:r=25:d=12" \
  -f lavfi -i "color=c=0x2040ff:s=56x56:r=25:d=12" \
  -f lavfi -i "sine=f=880:sample_rate=48000:d=12" \
  -f lavfi -i "anoisesrc=c=pink:a=0.01:r=48000:d=12" \
  -filter_complex "[0][1]overlay=x='40+440*(0.5+0.5*sin(2*PI*t/12))':y='150+60*sin(2*PI*t/6)'[r];[r][2]overlay=x=520:y=40[v];[3]volume='0.6*lt(mod(t,0.5),0.3)':eval=frame[b];[b][4]amix=inputs=2:normalize=0[a]" \
  -map "[v]" -map "[a]" -c:v libx264 -preset veryfast -crf 30 -pix_fmt yuv420p -g 50 \
  -c:a aac -b:a 48k -ac 1 -movflags +faststart "$out"
