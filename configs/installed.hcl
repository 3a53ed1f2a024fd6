# garssld configuration: the starting point `make install` puts in
# /etc/garssl/garssld.hcl (it never overwrites an existing one). It names
# no key, password or certificate file, so `garssld check` passes as
# installed; everything left out takes its default. Every setting, with
# its default and unit, is in garssld.reference.hcl beside the README
# ($(PREFIX)/share/doc/garssld/).
#
# Before `systemctl enable --now garssld`:
#   1. point the stream at your camera and microphone (v4l2-ctl
#      --list-devices, arecord -L) or at an RTSP URL;
#   2. point mllm.endpoints at the server running Qwen2.5-Omni and
#      mqtt.broker at your broker;
#   3. put secrets, if any, in /etc/credstore/ (see below);
#   4. garssld check --config /etc/garssl/garssld.hcl
#
# Secrets reach the daemon through systemd's LoadCredential=: put each in
# /etc/credstore/ (mode 0700, root) under the name shown, and uncomment its
# line. ${CREDENTIALS_DIRECTORY} is set only inside the service; check such
# a config by hand, as root, with
#   CREDENTIALS_DIRECTORY=/etc/credstore garssld check --config /etc/garssl/garssld.hcl

mllm {
  endpoints = ["http://127.0.0.1:8000/v1"]
  model = "Qwen/Qwen2.5-Omni-7B"
  # The server's --api-key, in /etc/credstore/garssl.mllm.key:
  # api_key_file = "${CREDENTIALS_DIRECTORY}/garssl.mllm.key"
}

mqtt {
  broker = "tcp://127.0.0.1:1883"
  # The daemon's state directory (systemd StateDirectory=garssl).
  store_dir = "/var/lib/garssl/mqtt"
  # The broker password, in /etc/credstore/garssl.mqtt.pass:
  # username = "robot-7"
  # password_file = "${CREDENTIALS_DIRECTORY}/garssl.mqtt.pass"
}

http {
  # /metrics, /healthz and /readyz; `garssld status` reads them.
  listen = "127.0.0.1:9464"
}

# A USB camera with a built-in microphone. The devices may appear after
# garssld starts: it waits for them and reconnects.
stream "front" {
  input = "v4l2:/dev/video0"
  audio = "alsa:default"
}
