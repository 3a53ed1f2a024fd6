# garssld demo: one video file, the omnisim model simulator and a local
# MQTT broker. Nothing needs root. Everything left out takes its default
# (see garssld.hcl for every setting).
#
#   mkdir -p /tmp/garssl-demo
#   ffmpeg -f lavfi -i testsrc2=size=640x480:rate=25 \
#          -f lavfi -i sine=frequency=440:sample_rate=48000 \
#          -t 30 -c:v libx264 -pix_fmt yuv420p -c:a aac /tmp/garssl-demo/demo.mp4
#   start omnisim (cmd/omnisim) so that it serves http://127.0.0.1:8000/v1
#   mosquitto -p 1883 &
#   mosquitto_sub -t 'garssl/#' -v &
#   go run ./cmd/garssld run --config configs/demo.hcl

node_id = "demo"

log {
  level = "debug"
}

mllm {
  # omnisim, which serves Qwen/Qwen2.5-Omni-7B and honours "n".
  endpoints = ["http://127.0.0.1:8000/v1"]
  model = "Qwen/Qwen2.5-Omni-7B"
}

mqtt {
  broker = "tcp://127.0.0.1:1883"
  store_dir = "/tmp/garssl-demo/mqtt"
}

stream "demo" {
  input = "/tmp/garssl-demo/demo.mp4"
  # Stop at the end of the file instead of starting over.
  loop = false
}
