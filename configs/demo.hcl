# garssld demo: the bundled sample clip, looped and read at its own rate
# like a camera, the omnisim model simulator and a local MQTT broker.
# `make demo` (scripts/demo.sh) runs all of it on free local ports: it
# copies this file with the broker, model endpoint, HTTP listener and
# store directory replaced, and prints the detections as they arrive.
# Everything left out takes its default (configs/garssld.hcl shows every
# setting). By hand, from the top of the repository (the input path is
# relative to it):
#
#   bin/omnisim --listen 127.0.0.1:8000 --truth testdata/sample/beeping-square.truth.json &
#   mosquitto -p 1883 &
#   mosquitto_sub -t 'garssl/#' -v &
#   bin/garssld run --config configs/demo.hcl

node_id = "demo"

log {
  level = "info"
}

mllm {
  # omnisim, which serves Qwen/Qwen2.5-Omni-7B and honours "n".
  endpoints = ["http://127.0.0.1:8000/v1"]
  model = "Qwen/Qwen2.5-Omni-7B"
}

mqtt {
  broker = "tcp://127.0.0.1:1883"
  store_dir = "/tmp/garssld-demo/mqtt"
}

http {
  listen = "127.0.0.1:9464"
}

stream "demo" {
  input = "testdata/sample/beeping-square.mp4"
  # Start again at the end: a camera that never stops. A file is read at
  # the media's own rate (realtime = true, the default).
  loop = true
  # The sample's virtual camera: adds bearing_deg to each source.
  camera {
    hfov_deg = 87
  }
}
