# garssld configuration for a robot in production: one RTSP camera with a
# separate ALSA microphone, a vLLM server on the local network, and a TLS
# MQTT broker. Every setting is shown; the values given are the defaults
# unless a comment says otherwise, so any line can be left out.
#
# Check it with:  garssld check --config /etc/garssl/garssld.hcl
# Durations are Go duration strings: "500ms", "3s", "1m30s".
# HCL allows one attribute per line; `a = 1  b = 2` on one line is an error.

# Names this robot in MQTT topics (garssl/<node_id>/…), payloads and the
# X-Request-Id header. Letters, digits, "_" and "-".
# Default: the host name up to its first dot.
node_id = "robot-7"

# Once told to stop (SIGTERM, systemctl stop), how long windows already at
# the model may take to finish and be published before they are
# cancelled; then the MQTT backlog is flushed (up to 5s). While a stop
# drains, garssld asks systemd for more time (EXTEND_TIMEOUT_USEC), so the
# sum may exceed the unit's TimeoutStopSec (30s). 0s to 5m.
shutdown_timeout = "10s"

log {
  # trace, debug, info, warn or error.
  level = "info"
  # "auto" writes text on a terminal and JSON otherwise (journald); or
  # force "json" or "text".
  format = "auto"
}

mllm {
  # Base URLs of OpenAI-compatible servers; requests go to
  # {endpoint}/chat/completions, to the least-loaded endpoint whose
  # circuit breaker is closed. No credentials in the URL.
  # Default: ["http://127.0.0.1:8000/v1"].
  endpoints = ["http://gpu-1.fleet.local:8000/v1", "http://gpu-2.fleet.local:8000/v1"]

  # The served model name, as the server lists it under /v1/models.
  model = "Qwen/Qwen2.5-Omni-7B"

  # Optional file holding a bearer token (vllm serve --api-key). It must
  # exist and be non-empty; the key itself never appears in logs.
  # Default: none.
  api_key_file = "/etc/garssl/mllm.key"

  # Bound on one HTTP request. A window's requests are also cut when the
  # window would turn stale (stream stale_after, 10s by default, so that
  # comes first): `garssld check` warns about it. A hung server is then
  # found by those cuts, when a request was out over 3x its usual time.
  timeout = "20s"

  # Concurrent requests per endpoint, shared fairly by all streams. Each
  # running window may ask two at once (locate and audio); vLLM batches
  # and queues what is over its own limit, so the cap stays above what
  # the streams ask for. llama-server: its slot count (-np).
  max_in_flight = 8

  # The server honours "n" (vLLM does, llama.cpp does not): the analysis
  # trials of a window go out as one request.
  supports_n = true

  # Ask the server to constrain answers to a JSON schema
  # (response_format json_schema). Answers are checked in Go regardless.
  structured_output = true

  # "parallel": the generation requests of a window run concurrently.
  # "sequential": one request after another, analysis trials as separate
  # requests; for single-slot servers such as llama-server -np 1.
  schedule = "parallel"

  # Budget for the whole GAR loop of one window (all stages); past it the
  # window is published as mllm_unavailable.
  window_deadline = "30s"

  # Per-endpoint circuit breaker. It trips on connection errors, timeouts
  # and 5xx answers, never on unparseable model output.
  breaker {
    # Open after this many transport failures in a row.
    consecutive_failures = 5
    # Stay open this long before letting one probe request through. Each
    # failed probe doubles the open time, up to open_for; a success resets
    # it, so a model server restarted for a few seconds costs seconds.
    open_min = "1s"
    # The longest open time: the cap of the doubling.
    open_for = "30s"
  }
}

gar {
  # Sampled analysis trials per window (1 to 16).
  analysis_trials = 5

  # Refinement is skipped when the trials keep the box, their mean
  # audio-visual consistency is ≥ tau_av and the audio confidence is
  # ≥ tau_audio. Both in [0, 1].
  tau_av = 0.5
  tau_audio = 0.75

  # Sources localised per window: 1, or 2 to 4 for several simultaneous
  # sound sources (the paper's duet setting).
  max_sources = 1

  # Side of the square image the model sees, in pixels: a multiple of 28
  # (Qwen's patch grid), 28 to 1792. 224 as in the paper.
  model_size = 224

  # Windows quieter than this RMS level (dBFS, -120 to 0) are published as
  # "silent" without calling the model.
  silence_dbfs = -60

  # Sampling of the analysis trials (the other stages are greedy).
  # temperature in [0, 2]; top_p above 0 and at most 1.
  temperature = 0.4
  top_p = 0.9

  # Debug: record every stage's raw model output. Makes payloads large.
  keep_raw = false
}

mqtt {
  # tcp://, mqtt://, ssl://, tls://, mqtts://, ws:// or wss://, with a
  # port. No credentials in the URL. Default: "tcp://127.0.0.1:1883".
  broker = "mqtts://broker.fleet.local:8883"

  # Quality of service of detections: 0, 1 or 2.
  qos = 1

  # Topics are <topic_prefix>/<node_id>/…; several levels are allowed,
  # wildcards (+ #), empty levels and a leading "$" are not.
  topic_prefix = "garssl"

  # Messages not yet acknowledged survive restarts here. Created by the
  # daemon (systemd StateDirectory=garssl).
  store_dir = "/var/lib/garssl/mqtt"

  # Detections waiting for the broker's acknowledgement, queued or in the
  # store, across reconnects and restarts; beyond it the oldest stored one
  # is dropped and counted. Retained status and state are never dropped.
  max_pending = 10000

  # A stored detection older than this when the broker is reached again
  # (after a reconnect or a restart) is dropped instead of sent, and
  # counted as expired; 0 keeps everything. 0 to 168h.
  max_age = "10m0s"

  # Optional credentials. password_file must exist, be non-empty and needs
  # a username. Default: none.
  username = "robot-7"
  password_file = "/etc/garssl/mqtt.pass"

  # Default: "garssld-<node_id>".
  client_id = "garssld-robot-7"

  # Longest wait between attempts to reach the broker, 1s to 10m. For the
  # first 10 s of an outage attempts are 0.5-1 s apart; then the wait
  # doubles up to this. It starts again after a connection that lasted 10 s.
  max_reconnect_interval = "30s"

  # Subscribe to this node's own detections and confirm that each one
  # published comes back from the broker within confirm_within (1s to
  # 10m). A broker acknowledges, then drops, what its ACL denies or what
  # exceeds its message_size_limit; this makes it visible in /readyz,
  # `garssld status` and garssl_mqtt_unconfirmed_total. Behind a bridge
  # only the local broker is verified.
  verify_delivery = true
  confirm_within = "10s"

  # A detection larger than this (keep_raw makes them large) is not sent
  # but counted (reason "too_large") and logged; 1024 to 268435456. Keep
  # it at or below the broker's message_size_limit.
  max_message_bytes = 262144

  # Optional client TLS; needs a TLS broker scheme. Without this block a
  # TLS broker is verified against the system roots.
  tls {
    # CA bundle to trust instead of the system roots.
    ca_file = "/etc/garssl/ca.pem"
    # Client certificate and key, both or neither.
    cert_file = "/etc/garssl/robot-7.crt"
    key_file = "/etc/garssl/robot-7.key"
  }
}

http {
  # Serves /metrics, /healthz and /readyz, and the live view at /. Keep it
  # on loopback unless a scraper or an operator on the network needs it.
  listen = "127.0.0.1:9464"
  # The operator's live view: each stream's latest windows with their
  # boxes, their sound, and pause and resume. false serves none of it.
  view = true
  # Windows per stream whose picture and sound the view keeps in memory:
  # streams × view_windows × (picture + 96 KB of audio). 1 to 500.
  view_windows = 20
  # Pages that may follow the view at once; the next gets 503. 1 to 1000.
  max_viewers = 16
  # An htpasswd file of bcrypt lines (`htpasswd -B -c FILE USER`). When
  # set, the view asks for a user and password; a listen address that is
  # not loopback needs it while the view is on. Read again on SIGHUP.
  auth_file = "/etc/garssl/htpasswd"
  # true makes /metrics, /healthz and /readyz ask for the same password
  # (scrapers and probes must then send it).
  auth_metrics = false
  # true serves the view on a non-loopback address without auth_file:
  # the cameras' pictures and sound open to the network.
  insecure_open = false
}

# Tracks (issue 15): each stream's detections become tracks with stable
# ids, published as new/update/end events on <stream>/events and as the
# retained list of current tracks on <stream>/tracks. A stream block may
# hold its own tracking block (a camera that differs); it starts from
# these values.
tracking {
  # false publishes no events, no tracks and no track_id.
  enabled = true
  # Hits that confirm a track and send its new event; 1 makes a door slam
  # lasting one window an event.
  confirm_hits = 1
  # A track ends when the last analysed window ends this long after its
  # last hit (silence or not_seen). Windows with no result do not count.
  end_after = "6s"
  # Every track of a stream ends (reason unknown) when no window was
  # analysed for this long (model down, windows dropped). At least end_after.
  lost_after = "30s"
  # An update is sent for a hit whose last sent state is this old; "0s"
  # turns heartbeats off.
  heartbeat = "60s"
  # An update is sent when the smoothed bearing moved this far from the
  # last sent state (streams with a camera block)…
  update_bearing_deg = 5
  # …or, without a camera, when the smoothed box centre moved this
  # fraction of the frame diagonal.
  update_centre_frac = 0.05
  # Open tracks per stream (1 to 16); the oldest tentative one gives way.
  max_tracks = 16
}

# One block per capture source; the label is the stream name, used in
# topics (garssl/robot-7/front/detections) and metric labels. Letters,
# digits, "_" and "-".
stream "front" {
  # What FFmpeg opens: a URL (rtsp://, udp://, srt://, http://, file://),
  # a device "<demuxer>:<device>" (v4l2:/dev/video0, alsa:hw:1,0,
  # pulse:default) or a file path. A file must be a regular file: a FIFO
  # would block the capture where no stop reaches it. Credentials in the
  # URL are allowed and are redacted in logs. Required.
  input = "rtsp://cam-front.local:554/stream1"

  # Optional separate audio source, for a camera without a microphone.
  # Default: the input's own audio.
  audio = "alsa:hw:1,0"

  # FFmpeg options for opening input and audio. Default: none.
  options = {
    rtsp_transport = "tcp"
    timeout        = "5000000" # socket timeout, microseconds
  }
  audio_options = {
    sample_rate = "48000"
    channels    = "4" # the microphone array below
  }

  # Window length and the distance between window starts: whole numbers
  # of 16 kHz samples, window at most 30s. hop < window overlaps windows;
  # hop > window analyses only part of the stream to save GPU time.
  window = "3s"
  hop = "3s"

  # Windows waiting for the model; the oldest is dropped when full. The
  # newest is analysed first; older ones that could no longer finish fresh
  # after it are then dropped (superseded).
  max_queue = 2

  # Drop a window that waited this long since it ended; one with less time
  # left than the model usually takes is not started (too_late).
  stale_after = "10s"

  # Restart at the end; file inputs only.
  loop = false

  # Read a file input at the media's own rate, like `ffmpeg -re`, so that
  # it plays like a camera. Live inputs arrive at their own rate: false is
  # refused for them.
  realtime = true

  # false starts the stream paused: listed in the status and its state
  # topic says "paused", but nothing is captured until a set command
  # {"enabled": true} arrives on garssl/<node>/<stream>/set.
  enabled = true

  # Reconnect when no packet arrived for this long.
  stall_timeout = "5s"

  # How each window's picture is decoded. "exact" decodes only the
  # packets the frame nearest the window's centre depends on (from its
  # key frame), and gives the picture a decode of every frame gives.
  # "nearest_key" takes the key frame nearest the centre when it lies
  # within frame_tolerance (one frame per window on a 1 s GOP; the
  # picture may be off-centre by up to that), else decodes as exact.
  # "all" decodes every frame, as garssld did before.
  frame_pick = "exact"
  frame_tolerance = "0.5s"

  # Let the decoder skip frames to save CPU: "" (none), "noref" (skip
  # non-reference frames) or "nokey" (key frames only). Not with
  # frame_pick = "exact", which leaves nothing to skip.
  skip_frame = ""

  # Video decoder threads: 0 lets FFmpeg pick (one per CPU). One keeps up
  # with a camera's rate and saves memory; raise it for streams one core
  # cannot decode in real time.
  decoder_threads = 1

  # Optional: the camera's horizontal field of view in degrees (above 0,
  # below 180) adds bearing_deg to each detected source.
  camera {
    hfov_deg = 87
  }

  # Optional: a microphone array on the sound input, for the direction of
  # arrival of each window's sound. Each window then also keeps these
  # channels at the input's rate (16 kHz when that is higher); the mono
  # mix the model hears is unchanged. Here a ReSpeaker-style circle of 4
  # microphones, radius 32 mm, on the device's first 4 channels.
  mic_array {
    # Metres, after ROS REP 103: x forward, y left, z up. 2 to 16
    # microphones, none within 1 mm of another.
    positions = [[0.032, 0, 0], [0, 0.032, 0], [-0.032, 0, 0], [0, -0.032, 0]]
    # The input channel (from 0) of each position, in the same order.
    # Default: the first ones, [0, 1, …]. ALSA and Pulse inputs are opened
    # with enough channels unless audio_options sets channels.
    channels = [0, 1, 2, 3]
    # The bearing of the array's x axis as the camera sees it: degrees,
    # positive right of the optical axis, above -180 and at most 180.
    yaw_offset_deg = 0
    # The array's x axis above the optical axis, degrees, -90 to 90.
    pitch_offset_deg = 0
    # A confident direction further than this (degrees) from a source's
    # bearing locates the window again with the direction as a hint…
    tolerance_deg = 15
    # …unless hint = false (the paper's loop; the agreement is still
    # published).
    hint = true
    # The most directions reported per window, 1 to 4.
    max_sources = 1
  }

  # Optional: this stream's own tracking settings, starting from the
  # top-level tracking block; here the wide-angle camera's bearings move
  # less per metre, so a smaller move counts.
  tracking {
    enabled            = true
    confirm_hits       = 1
    end_after          = "6s"
    lost_after         = "30s"
    heartbeat          = "60s"
    update_bearing_deg = 4
    update_centre_frac = 0.05
    max_tracks         = 16
  }
}
