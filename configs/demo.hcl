# garssld demo: the bundled sample clip, the omnisim model simulator and a
# local MQTT broker. Nothing needs root. Everything left out takes its
# default (see garssld.hcl for every setting). Run it from the top of the
# repository, where the input path below is relative to:
#
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
  input = "testdata/sample/beeping-square.mp4"
  # Stop at the end of the file instead of starting over.
  loop = false
}
