package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// secretFixture creates files that file references in test configs point
// at, and returns the directory that replaces "$DIR" in sources and
// expectations.
func secretFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "key"), []byte("s3cr3t-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), append([]byte("operator:"), hash...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	// Nobody writes to it: opening it for reading would block.
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestParseBadConfigs pins the exact diagnostics for invalid configs. The
// columns were counted by hand from the sources below: a value error
// points at the first character of the value, an unknown or misplaced
// name at the name, and a block error at the block's type keyword.
func TestParseBadConfigs(t *testing.T) {
	inFixture(t)
	dir := secretFixture(t)
	tests := []struct {
		name string
		src  string
		want []string
		// secrets must appear in no message.
		secrets []string
	}{
		{
			name: "misspelt stream attribute",
			src: `stream "front" {
  input = "a.mp4"
  windw = "3s"
}`,
			want: []string{`garssl.hcl:3:3: unknown attribute "windw" in stream "front"; valid: input, audio, options, audio_options, window, hop, max_queue, stale_after, loop, realtime, enabled, stall_timeout, skip_frame, decoder_threads, frame_pick, frame_tolerance; did you mean "window"?`},
		},
		{
			name: "model size not a multiple of 28",
			src:  "gar {\n  model_size = 230\n}",
			want: []string{`garssl.hcl:2:16: gar.model_size = 230 is not a multiple of 28; use 224, 252, 280, …`},
		},
		{
			name: "model size below the smallest",
			src:  "gar {\n  model_size = 10\n}",
			want: []string{`garssl.hcl:2:16: gar.model_size = 10 is out of range; use a multiple of 28 from 28 to 1792`},
		},
		{
			name: "endpoint with another scheme",
			src:  "mllm {\n  endpoints = [\"http://a:8000/v1\", \"ftp://x\"]\n}",
			want: []string{`garssl.hcl:2:36: mllm.endpoints[1] "ftp://x" is not an http(s) URL`},
		},
		{
			name:    "endpoint with credentials",
			src:     "mllm {\n  endpoints = [\"http://u:secret@h/v1\"]\n}",
			want:    []string{`garssl.hcl:2:16: mllm.endpoints[0] "http://xxxxx@h/v1" carries credentials in the URL; put the key in mllm.api_key_file instead`},
			secrets: []string{"secret"},
		},
		{
			name:    "bad endpoint with credentials is redacted",
			src:     "mllm {\n  endpoints = [\"ftp://u:secret@h\"]\n}",
			want:    []string{`garssl.hcl:2:16: mllm.endpoints[0] "ftp://xxxxx@h" is not an http(s) URL`},
			secrets: []string{"secret"},
		},
		{
			name:    "endpoint with a key in its query",
			src:     "mllm {\n  endpoints = [\"http://h/v1?api_key=S3CRET\"]\n}",
			want:    []string{`garssl.hcl:2:16: mllm.endpoints[0] "http://h/v1?api_key=xxxxx" carries credentials in the URL; put the key in mllm.api_key_file instead`},
			secrets: []string{"S3CRET"},
		},
		{
			name:    "endpoint that does not parse",
			src:     "mllm {\n  endpoints = [\"http://u:S3CRET@h:abc/v1\"]\n}",
			want:    []string{`garssl.hcl:2:16: mllm.endpoints[0] "http://xxxxx@h:abc/v1" is not a valid URL: check its host and port, and percent-encode any "@", "/", "?", "#" or "%" in a user name or password`},
			secrets: []string{"S3CRET"},
		},
		{
			name:    "broker with a password in its query",
			src:     "mqtt {\n  broker = \"tcp://h?password=S3CRET\"\n}",
			want:    []string{`garssl.hcl:2:12: mqtt.broker "tcp://h?password=xxxxx" carries credentials in the URL; use mqtt.username and mqtt.password_file instead`},
			secrets: []string{"S3CRET"},
		},
		{
			name: "inputs that do not parse, without their secrets",
			src: `stream "a" {
  input = "rtsp://admin:S3CRETpw@cam.local:abc/stream"
}
stream "b" {
  input = "rtsp://admin:S3%CRET@cam.local/stream"
  audio = "rtsp://admin:S3CRET@[::1/stream"
}`,
			want: []string{
				`garssl.hcl:2:11: stream.a.input "rtsp://xxxxx@cam.local:abc/stream" is not a valid URL: check its host and port, and percent-encode any "@", "/", "?", "#" or "%" in a user name or password`,
				`garssl.hcl:5:11: stream.b.input "rtsp://xxxxx@cam.local/stream" is not a valid URL: a "%" is not followed by two hexadecimal digits; write %25 for a "%" itself`,
				`garssl.hcl:6:11: stream.b.audio "rtsp://xxxxx@[::1/stream" is not a valid URL: check its host and port, and percent-encode any "@", "/", "?", "#" or "%" in a user name or password`,
			},
			secrets: []string{"S3"},
		},
		{
			name: "devices without a device, a missing file, a directory",
			src: `stream "a" {
  input = "v4l2:"
  audio = "alsa: "
}
stream "b" {
  input = "$DIR/missing.mp4"
  audio = "$DIR/dir"
}
stream "c" {
  input = "file://$DIR/missing.mp4"
}`,
			want: []string{
				`garssl.hcl:2:11: stream.a.input "v4l2:" names no device; write v4l2:<device>, e.g. v4l2:/dev/video0, alsa:hw:1,0 or pulse:default`,
				`garssl.hcl:3:11: stream.a.audio "alsa: " names no device; write alsa:<device>, e.g. v4l2:/dev/video0, alsa:hw:1,0 or pulse:default`,
				`garssl.hcl:6:11: stream.b.input "$DIR/missing.mp4" does not exist; give a file path, a URL (rtsp://, udp://, srt://, http://) or a device such as v4l2:/dev/video0`,
				`garssl.hcl:7:11: stream.b.audio "$DIR/dir" is a directory; name a media file`,
				`garssl.hcl:10:11: stream.c.input "file://$DIR/missing.mp4" does not exist; give a file path, a URL (rtsp://, udp://, srt://, http://) or a device such as v4l2:/dev/video0`,
			},
		},
		{
			// file:<path> is FFmpeg's file protocol: checked as the path.
			name: "a FIFO, and file: paths",
			src: `stream "a" {
  input = "$DIR/fifo"
  audio = "file:$DIR/fifo"
}
stream "b" {
  input = "file:$DIR/dir"
  audio = "file:$DIR/missing.wav"
}`,
			want: []string{
				`garssl.hcl:2:11: stream.a.input "$DIR/fifo" is a named pipe (FIFO), not a regular file: capture could wait on it forever, and no stop can interrupt that; give a media file, a URL (rtsp://, udp://, srt://, http://) or a device such as v4l2:/dev/video0`,
				`garssl.hcl:3:11: stream.a.audio "file:$DIR/fifo" is a named pipe (FIFO), not a regular file: capture could wait on it forever, and no stop can interrupt that; give a media file, a URL (rtsp://, udp://, srt://, http://) or a device such as v4l2:/dev/video0`,
				`garssl.hcl:6:11: stream.b.input "file:$DIR/dir" is a directory; name a media file`,
				`garssl.hcl:7:11: stream.b.audio "file:$DIR/missing.wav" does not exist; give a file path, a URL (rtsp://, udp://, srt://, http://) or a device such as v4l2:/dev/video0`,
			},
		},
		{
			name: "store_dir that is a file",
			src:  "mqtt {\n  store_dir = \"$DIR/key\"\n}",
			want: []string{`garssl.hcl:2:15: mqtt.store_dir "$DIR/key" is a file, not a directory; name a directory (garssld creates it when missing)`},
		},
		{
			name: "client_id too long",
			src:  "mqtt {\n  client_id = \"" + strings.Repeat("x", 70000) + "\"\n}",
			want: []string{`garssl.hcl:2:15: mqtt.client_id is 70000 bytes long; use at most 256`},
		},
		{
			name: "window too short",
			src:  "stream \"a\" {\n  input = \"a.mp4\"\n  window = \"250ms\"\n}",
			want: []string{`garssl.hcl:3:12: stream.a.window = 250ms is too short to hear anything; use at least 500ms`},
		},
		{
			name: "duplicate endpoint after trailing slash removal",
			src:  "mllm {\n  endpoints = [\"http://a/v1\", \"http://a/v1/\"]\n}",
			want: []string{`garssl.hcl:2:31: mllm.endpoints[1] "http://a/v1" repeats mllm.endpoints[0]`},
		},
		{
			name: "no endpoints",
			src:  "mllm {\n  endpoints = []\n}",
			want: []string{`garssl.hcl:2:15: mllm.endpoints is empty; give at least one, e.g. ["http://127.0.0.1:8000/v1"]`},
		},
		{
			name: "null endpoint",
			src:  "mllm {\n  endpoints = [null]\n}",
			want: []string{`garssl.hcl:2:16: mllm.endpoints[0] is null; want a string`},
		},
		{
			name: "duration without unit",
			src:  "mllm {\n  timeout = \"20\"\n}",
			want: []string{`garssl.hcl:2:13: mllm.timeout = "20" is not a duration; write a number with a unit, e.g. "500ms", "3s" or "1m"`},
		},
		{
			name: "negative duration in nested block",
			src:  "mllm {\n  breaker {\n    open_for = \"-1s\"\n  }\n}",
			want: []string{`garssl.hcl:3:16: mllm.breaker.open_for = -1s must be greater than 0`},
		},
		{
			name: "breaker open_min longer than its cap",
			src:  "mllm {\n  breaker {\n    open_min = \"1m\"\n  }\n}",
			want: []string{`garssl.hcl:3:16: mllm.breaker.open_min = 1m0s is longer than mllm.breaker.open_for = 30s, which caps it; use at most 30s`},
		},
		{
			name: "max reconnect interval out of range",
			src:  "mqtt {\n  max_reconnect_interval = \"500ms\"\n}",
			want: []string{`garssl.hcl:2:28: mqtt.max_reconnect_interval = 500ms is out of range; use 1s to 10m`},
		},
		{
			name: "max reconnect interval too long",
			src:  "mqtt {\n  max_reconnect_interval = \"1h\"\n}",
			want: []string{`garssl.hcl:2:28: mqtt.max_reconnect_interval = 1h0m0s is out of range; use 1s to 10m`},
		},
		{
			name: "max age negative",
			src:  "mqtt {\n  max_age = \"-1m\"\n}",
			want: []string{`garssl.hcl:2:13: mqtt.max_age = -1m0s is out of range; use 0 (keep everything) to 168h`},
		},
		{
			name: "max age too long",
			src:  "mqtt {\n  max_age = \"200h\"\n}",
			want: []string{`garssl.hcl:2:13: mqtt.max_age = 200h0m0s is out of range; use 0 (keep everything) to 168h`},
		},
		{
			name: "max reconnect interval not a duration",
			src:  "mqtt {\n  max_reconnect_interval = 30\n}",
			want: []string{`garssl.hcl:2:28: mqtt.max_reconnect_interval = "30" is not a duration; write a number with a unit, e.g. "500ms", "3s" or "1m"`},
		},
		{
			name: "confirm within out of range",
			src:  "mqtt {\n  confirm_within = \"100ms\"\n}",
			want: []string{`garssl.hcl:2:20: mqtt.confirm_within = 100ms is out of range; use 1s to 10m`},
		},
		{
			name: "max message bytes too small",
			src:  "mqtt {\n  max_message_bytes = 512\n}",
			want: []string{`garssl.hcl:2:23: mqtt.max_message_bytes = 512 is out of range; use 1024 to 268435456`},
		},
		{
			name: "topic prefix too long",
			src:  "mqtt {\n  topic_prefix = \"" + strings.Repeat("a", 129) + "\"\n}",
			want: []string{`garssl.hcl:2:18: mqtt.topic_prefix is 129 bytes long; use at most 128`},
		},
		{
			name: "stream name too long",
			src:  "stream \"" + strings.Repeat("c", 70000) + "\" {\n  input = \"rtsp://cam/1\"\n}",
			want: []string{`garssl.hcl:1:8: stream name "cccccccccccccccccccc"… is 70000 bytes long; use at most 64`},
		},
		{
			name: "unknown schedule",
			src:  "mllm {\n  schedule = \"serial\"\n}",
			want: []string{`garssl.hcl:2:14: mllm.schedule "serial" is not one of "parallel", "sequential"`},
		},
		{
			name: "max in flight zero",
			src:  "mllm {\n  max_in_flight = 0\n}",
			want: []string{`garssl.hcl:2:19: mllm.max_in_flight = 0 must be at least 1`},
		},
		{
			name: "view windows zero",
			src:  "http {\n  view_windows = 0\n}",
			want: []string{`garssl.hcl:2:18: http.view_windows = 0 is out of range; use 1 to 500`},
		},
		{
			name: "max viewers too many",
			src:  "http {\n  max_viewers = 5000\n}",
			want: []string{`garssl.hcl:2:17: http.max_viewers = 5000 is out of range; use 1 to 1000`},
		},
		{
			name: "view on the network without auth",
			src:  "http {\n  listen = \"0.0.0.0:9464\"\n}",
			want: []string{`garssl.hcl:2:12: http.listen "0.0.0.0:9464" is not a loopback address, and the live view (http.view, on by default) would show the cameras' pictures and sound to anyone on the network; set http.auth_file to an htpasswd file (` + "`htpasswd -B -c /etc/garssl/htpasswd operator`" + `), or http.view = false, or, to open it on purpose, http.insecure_open = true`},
		},
		{
			name: "view on every interface without auth",
			src:  "http {\n  listen = \":9464\"\n  view = true\n}",
			want: []string{`garssl.hcl:2:12: http.listen ":9464" is not a loopback address, and the live view (http.view, on by default) would show the cameras' pictures and sound to anyone on the network; set http.auth_file to an htpasswd file (` + "`htpasswd -B -c /etc/garssl/htpasswd operator`" + `), or http.view = false, or, to open it on purpose, http.insecure_open = true`},
		},
		{
			name: "auth metrics without auth file",
			src:  "http {\n  auth_metrics = true\n}",
			want: []string{`garssl.hcl:2:18: http.auth_metrics = true needs http.auth_file, the users and passwords to ask for`},
		},
		{
			name: "missing auth file",
			src:  "http {\n  auth_file = \"$DIR/missing\"\n}",
			want: []string{`garssl.hcl:2:15: http.auth_file "$DIR/missing" does not exist`},
		},
		{
			name: "auth file not htpasswd bcrypt",
			src:  "http {\n  auth_file = \"$DIR/key\"\n}",
			want: []string{`garssl.hcl:2:15: http.auth_file "$DIR/key": line 1 is not user:hash`},
		},
		{
			name: "view not a bool",
			src:  "http {\n  view = \"yes\"\n}",
			want: []string{`garssl.hcl:2:10: http.view must be true or false, not a string`},
		},
		{
			name: "missing api key file",
			src:  "mllm {\n  api_key_file = \"$DIR/missing\"\n}",
			want: []string{`garssl.hcl:2:18: mllm.api_key_file "$DIR/missing" does not exist`},
		},
		{
			name: "empty api key file",
			src:  "mllm {\n  api_key_file = \"$DIR/empty\"\n}",
			want: []string{`garssl.hcl:2:18: mllm.api_key_file "$DIR/empty" is empty`},
		},
		{
			name: "api key file is a FIFO",
			src:  "mllm {\n  api_key_file = \"$DIR/fifo\"\n}",
			want: []string{`garssl.hcl:2:18: mllm.api_key_file "$DIR/fifo" is a named pipe (FIFO); name a regular file`},
		},
		{
			name: "api key file is a directory",
			src:  "mllm {\n  api_key_file = \"$DIR/dir\"\n}",
			want: []string{`garssl.hcl:2:18: mllm.api_key_file "$DIR/dir" is a directory; name a file`},
		},
		{
			name: "tau out of range",
			src:  "gar {\n  tau_av = 1.5\n  tau_audio = -0.1\n}",
			want: []string{
				`garssl.hcl:2:12: gar.tau_av = 1.5 is out of range; use 0 to 1`,
				`garssl.hcl:3:15: gar.tau_audio = -0.1 is out of range; use 0 to 1`,
			},
		},
		{
			name: "trials and sources out of range",
			src:  "gar {\n  analysis_trials = 17\n  max_sources = 5\n}",
			want: []string{
				`garssl.hcl:2:21: gar.analysis_trials = 17 is out of range; use 1 to 16`,
				`garssl.hcl:3:17: gar.max_sources = 5 is out of range; use 1 to 4`,
			},
		},
		{
			name: "fractional count",
			src:  "gar {\n  analysis_trials = 2.5\n}",
			want: []string{`garssl.hcl:2:21: gar.analysis_trials = 2.5 is not a whole number`},
		},
		{
			name: "string where a number is needed",
			src:  "gar {\n  max_sources = \"two\"\n}",
			want: []string{`garssl.hcl:2:17: gar.max_sources must be a whole number, not a string`},
		},
		{
			name: "sampling and silence out of range",
			src:  "gar {\n  silence_dbfs = 3\n  temperature = 2.5\n  top_p = 0\n}",
			want: []string{
				`garssl.hcl:2:18: gar.silence_dbfs = 3 is out of range; use -120 to 0`,
				`garssl.hcl:3:17: gar.temperature = 2.5 is out of range; use 0 to 2`,
				`garssl.hcl:4:11: gar.top_p = 0 is out of range; use a value above 0 and at most 1`,
			},
		},
		{
			name: "qos out of range",
			src:  "mqtt {\n  qos = 3\n}",
			want: []string{`garssl.hcl:2:9: mqtt.qos = 3 is out of range; use 0 to 2`},
		},
		{
			name: "topic prefix with wildcard",
			src:  "mqtt {\n  topic_prefix = \"a/+/b\"\n}",
			want: []string{`garssl.hcl:2:18: mqtt.topic_prefix "a/+/b" contains a wildcard; topics cannot contain "+" or "#"`},
		},
		{
			name: "topic prefix with leading slash",
			src:  "mqtt {\n  topic_prefix = \"/garssl\"\n}",
			want: []string{`garssl.hcl:2:18: mqtt.topic_prefix "/garssl" must not start or end with "/"`},
		},
		{
			name: "topic prefix with empty level",
			src:  "mqtt {\n  topic_prefix = \"fleet//garssl\"\n}",
			want: []string{`garssl.hcl:2:18: mqtt.topic_prefix "fleet//garssl" has an empty level ("//")`},
		},
		{
			name: "topic prefix in the broker's namespace",
			src:  "mqtt {\n  topic_prefix = \"$SYS/garssl\"\n}",
			want: []string{`garssl.hcl:2:18: mqtt.topic_prefix "$SYS/garssl" must not start with "$", which brokers reserve for their own topics`},
		},
		{
			name: "empty strings where a value is needed",
			src:  "mllm {\n  model = \"\"\n}\nmqtt {\n  topic_prefix = \"\"\n  store_dir = \"\"\n  client_id = \"\"\n  max_pending = 0\n}",
			want: []string{
				`garssl.hcl:2:11: mllm.model is empty; name the served model, e.g. "Qwen/Qwen2.5-Omni-7B"`,
				`garssl.hcl:5:18: mqtt.topic_prefix is empty; use e.g. "garssl"`,
				`garssl.hcl:6:15: mqtt.store_dir is empty; give a writable directory for messages not yet acknowledged`,
				`garssl.hcl:7:15: mqtt.client_id is empty; leave it out to use garssld-<node_id>`,
				`garssl.hcl:8:17: mqtt.max_pending = 0 must be at least 1`,
			},
		},
		{
			name: "values of the wrong type",
			src:  "node_id = [\"a\"]\nmllm {\n  supports_n = {}\n  structured_output = \"yes\"\n  endpoints = \"http://a/v1\"\n}",
			want: []string{
				`garssl.hcl:1:11: node_id must be a string, not a list`,
				`garssl.hcl:3:16: mllm.supports_n must be true or false, not an object`,
				`garssl.hcl:4:23: mllm.structured_output must be true or false, not a string`,
				`garssl.hcl:5:15: mllm.endpoints must be a list of strings, not a string`,
			},
		},
		{
			name: "broker with another scheme",
			src:  "mqtt {\n  broker = \"http://b:1883\"\n}",
			want: []string{`garssl.hcl:2:12: mqtt.broker "http://b:1883" is not an MQTT broker URL; use tcp://, mqtt://, ssl://, tls://, mqtts://, ws:// or wss:// followed by host:port`},
		},
		{
			name: "broker without port",
			src:  "mqtt {\n  broker = \"tcp://b\"\n}",
			want: []string{`garssl.hcl:2:12: mqtt.broker "tcp://b" has no port; add one, e.g. tcp://b:1883`},
		},
		{
			name: "password without user name",
			src:  "mqtt {\n  password_file = \"$DIR/key\"\n}",
			want: []string{`garssl.hcl:2:19: mqtt.password_file is set but mqtt.username is empty; MQTT sends a password only with a user name`},
		},
		{
			name: "tls on a plain broker",
			src:  "mqtt {\n  tls {\n    ca_file = \"$DIR/key\"\n  }\n}",
			want: []string{`garssl.hcl:2:3: mqtt.tls is set but mqtt.broker "tcp://127.0.0.1:1883" is not a TLS URL; use ssl://, tls://, mqtts:// or wss://`},
		},
		{
			name: "client certificate without key",
			src:  "mqtt {\n  broker = \"ssl://b:8883\"\n  tls {\n    cert_file = \"$DIR/key\"\n  }\n}",
			want: []string{`garssl.hcl:3:3: mqtt.tls: cert_file and key_file go together; give both or neither`},
		},
		{
			name: "listen without port",
			src:  "http {\n  listen = \"9464\"\n}",
			want: []string{`garssl.hcl:2:12: http.listen "9464" is not a host:port address; use e.g. "127.0.0.1:9464" or ":9464"`},
		},
		{
			name: "node id with a slash",
			src:  `node_id = "robot/7"`,
			want: []string{`garssl.hcl:1:11: node_id "robot/7" is not a valid MQTT topic level; use letters, digits, "_" and "-"`},
		},
		{
			name: "stream name with a space",
			src:  "stream \"front cam\" {\n  input = \"a.mp4\"\n}",
			want: []string{`garssl.hcl:1:8: stream name "front cam" is not a valid MQTT topic level; use letters, digits, "_" and "-"`},
		},
		{
			name: "duplicate stream",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n}\nstream \"front\" {\n  input = \"b.mp4\"\n}",
			want: []string{`garssl.hcl:4:8: duplicate stream "front"; the first is at garssl.hcl:1:1`},
		},
		{
			name: "stream without input",
			src:  "stream \"front\" {\n  loop = true\n}",
			want: []string{`garssl.hcl:1:1: stream "front" has no input; add input = "rtsp://…", a device such as "v4l2:/dev/video0" or a file path`},
		},
		{
			name: "zero hop",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  hop = \"0s\"\n}",
			want: []string{`garssl.hcl:3:9: stream.front.hop = 0s must be greater than 0`},
		},
		{
			name: "window not a whole number of samples",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  window = \"3.00001s\"\n}",
			want: []string{`garssl.hcl:3:12: stream.front.window = 3.00001s is not a whole number of 16 kHz samples; use a multiple of 62.5µs, e.g. 3s`},
		},
		{
			name: "window too long",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  window = \"1m\"\n}",
			want: []string{`garssl.hcl:3:12: stream.front.window = 1m0s is too long; use at most 30s`},
		},
		{
			name:    "loop on a camera",
			src:     "stream \"front\" {\n  input = \"rtsp://admin:hunter2@cam/1\"\n  loop = true\n}",
			want:    []string{`garssl.hcl:3:10: stream.front.loop = true works only for file inputs; "rtsp://xxxxx@cam/1" is a network or device source`},
			secrets: []string{"hunter2"},
		},
		{
			name:    "realtime off for a camera",
			src:     "stream \"front\" {\n  input = \"rtsp://admin:hunter2@cam/1\"\n  realtime = false\n}",
			want:    []string{`garssl.hcl:3:14: stream.front.realtime = false works only for file inputs; "rtsp://xxxxx@cam/1" is a network or device source, which arrives at its own rate`},
			secrets: []string{"hunter2"},
		},
		{
			name: "enabled not a bool",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  enabled = \"no\"\n}",
			want: []string{`garssl.hcl:3:13: stream.front.enabled must be true or false, not a string`},
		},
		{
			name: "negative shutdown timeout",
			src:  "shutdown_timeout = \"-1s\"",
			want: []string{`garssl.hcl:1:20: shutdown_timeout = -1s is out of range; use 0s to 5m`},
		},
		{
			name: "shutdown timeout too long",
			src:  "shutdown_timeout = \"1h\"",
			want: []string{`garssl.hcl:1:20: shutdown_timeout = 1h0m0s is out of range; use 0s to 5m`},
		},
		{
			name: "shutdown timeout without unit",
			src:  "shutdown_timeout = 10",
			want: []string{`garssl.hcl:1:20: shutdown_timeout = "10" is not a duration; write a number with a unit, e.g. "500ms", "3s" or "1m"`},
		},
		{
			name: "misspelt top-level attribute",
			src:  "shutdown_timout = \"5s\"",
			want: []string{`garssl.hcl:1:1: unknown attribute "shutdown_timout" at top level; valid: node_id, shutdown_timeout; did you mean "shutdown_timeout"?`},
		},
		{
			name: "unknown skip_frame",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  skip_frame = \"all\"\n  frame_pick = \"all\"\n}",
			want: []string{`garssl.hcl:3:16: stream.front.skip_frame "all" is not one of "", "noref", "nokey"`},
		},
		{
			name: "unknown frame_pick",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  frame_pick = \"nearest\"\n}",
			want: []string{`garssl.hcl:3:16: stream.front.frame_pick "nearest" is not one of "exact", "nearest_key", "all"`},
		},
		{
			name: "frame_tolerance beyond a picture's bound",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  frame_pick = \"nearest_key\"\n  frame_tolerance = \"1s\"\n}",
			want: []string{`garssl.hcl:4:21: stream.front.frame_tolerance = 1s is out of range; use above 0s up to 500ms (a frame further from the centre does not show the window's moment)`},
		},
		{
			name: "skip_frame with exact frame_pick",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  skip_frame = \"noref\"\n}",
			want: []string{`garssl.hcl:3:16: stream.front.skip_frame = "noref" cannot go with frame_pick = "exact" (the default): an exact picture is the one a decode of every frame gives, and only the packets it needs are decoded, so there is nothing left to skip; drop skip_frame, or set frame_pick = "nearest_key" or "all"`},
		},
		{
			name: "negative decoder_threads",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  decoder_threads = -1\n}",
			want: []string{`garssl.hcl:3:21: stream.front.decoder_threads = -1 is out of range; use 0 to 16`},
		},
		{
			name: "too many decoder_threads",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  decoder_threads = 17\n}",
			want: []string{`garssl.hcl:3:21: stream.front.decoder_threads = 17 is out of range; use 0 to 16`},
		},
		{
			name: "camera without field of view",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  camera {}\n}",
			want: []string{`garssl.hcl:3:3: stream.front.camera needs hfov_deg, the horizontal field of view in degrees (above 0 and below 180)`},
		},
		{
			name: "field of view too wide",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  camera {\n    hfov_deg = 200\n  }\n}",
			want: []string{`garssl.hcl:4:16: stream.front.camera.hfov_deg = 200 is out of range; use a value above 0 and below 180 degrees`},
		},
		{
			name: "mic array with one microphone",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  mic_array {\n    positions = [[0, 0, 0]]\n  }\n}",
			want: []string{`garssl.hcl:4:17: stream.front.mic_array needs at least 2 microphones, as positions = [[x, y, z], …] in metres (x forward, y left, z up); it has 1`},
		},
		{
			name: "mic array without positions",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  mic_array {}\n}",
			want: []string{`garssl.hcl:3:3: stream.front.mic_array needs at least 2 microphones, as positions = [[x, y, z], …] in metres (x forward, y left, z up); it has 0`},
		},
		{
			name: "mic array with too many microphones",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  mic_array {\n    positions = [" + strings.Repeat("[0, 0, 0.1], [0, 0.1, 0], [0.1, 0, 0], [0, 0, -0.1], ", 4) + "[0, 0, 0]]\n  }\n}",
			want: []string{`garssl.hcl:4:17: stream.front.mic_array.positions has 17 microphones; use at most 16`},
		},
		{
			name: "mic array positions in millimetres, coincident, or not points",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  mic_array {\n    positions = [[32, 0, 0], [0, 0.032, 0], [0, 0.0325, 0.0005], [0, 0]]\n    channels = [0, 1, 2]\n  }\n}",
			want: []string{
				`garssl.hcl:4:18: stream.front.mic_array.positions[0] = [32, 0, 0] is out of range; positions are in metres, each coordinate from -5 to 5 (32 mm is 0.032)`,
				`garssl.hcl:4:45: stream.front.mic_array.positions[2] coincides with stream.front.mic_array.positions[1] (within 1 mm); every microphone needs its own position`,
				`garssl.hcl:4:66: stream.front.mic_array.positions[3] has 2 numbers; write each position as [x, y, z] in metres`,
			},
		},
		{
			name: "mic array positions not a list of points",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  mic_array {\n    positions = [0.1, 0.2]\n  }\n}",
			want: []string{
				`garssl.hcl:3:3: stream.front.mic_array needs at least 2 microphones, as positions = [[x, y, z], …] in metres (x forward, y left, z up); it has 0`,
				`garssl.hcl:4:17: stream.front.mic_array.positions must be a list of [x, y, z] positions in metres, not a list`,
			},
		},
		{
			name: "mic array channels: count, repeats, range, whole numbers",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  mic_array {\n    positions = [[0.1, 0, 0], [0, 0.1, 0], [-0.1, 0, 0], [0, -0.1, 0]]\n    channels = [0, 2, 2, -1, 64]\n  }\n}\nstream \"back\" {\n  input = \"a.mp4\"\n  mic_array {\n    positions = [[0.1, 0, 0], [0, 0.1, 0]]\n    channels = [0, 1.5]\n  }\n}",
			want: []string{
				`garssl.hcl:5:16: stream.front.mic_array.channels lists 5 channels for 4 positions; give one input channel per position, in the same order`,
				`garssl.hcl:5:23: stream.front.mic_array.channels[2] = 2 repeats stream.front.mic_array.channels[1]; each microphone has its own channel`,
				`garssl.hcl:5:26: stream.front.mic_array.channels[3] = -1 is out of range; use an input channel from 0 to 63`,
				`garssl.hcl:5:30: stream.front.mic_array.channels[4] = 64 is out of range; use an input channel from 0 to 63`,
				`garssl.hcl:12:20: stream.back.mic_array.channels[1] = 1.5 is not a whole number`,
			},
		},
		{
			name: "mic array angles and limits out of range",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  mic_array {\n    positions = [[0.1, 0, 0], [0, 0.1, 0]]\n    yaw_offset_deg = -180\n    pitch_offset_deg = 91\n    tolerance_deg = 0\n    max_sources = 5\n  }\n}",
			want: []string{
				`garssl.hcl:5:22: stream.front.mic_array.yaw_offset_deg = -180 is out of range; use a value above -180 and at most 180 degrees (positive right of the optical axis)`,
				`garssl.hcl:6:24: stream.front.mic_array.pitch_offset_deg = 91 is out of range; use -90 to 90`,
				`garssl.hcl:7:21: stream.front.mic_array.tolerance_deg = 0 is out of range; use a value above 0 and at most 180 degrees`,
				`garssl.hcl:8:19: stream.front.mic_array.max_sources = 5 is out of range; use 1 to 4`,
			},
		},
		{
			name: "mic array channel (defaulted) beyond the channels audio_options opens",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  audio = \"alsa:hw:1,0\"\n  audio_options = { channels = \"2\" }\n  mic_array {\n    positions = [[0.1, 0, 0], [0, 0.1, 0], [-0.1, 0, 0]]\n  }\n}",
			want: []string{`garssl.hcl:5:3: stream.front.mic_array.channels[2] = 2 is beyond the 2 channels stream.front.audio_options opens the input with; use 0 to 1, or open more channels`},
		},
		{
			name: "misspelt mic array attribute",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  mic_array {\n    positions = [[0.1, 0, 0], [0, 0.1, 0]]\n    chanels = [0, 1]\n  }\n}",
			want: []string{`garssl.hcl:5:5: unknown attribute "chanels" in the mic_array block of stream "front"; valid: positions, channels, yaw_offset_deg, pitch_offset_deg, tolerance_deg, hint, max_sources; did you mean "channels"?`},
		},
		{
			name: "tracking confirm_hits zero",
			src:  "tracking {\n  confirm_hits = 0\n}",
			want: []string{`garssl.hcl:2:18: tracking.confirm_hits = 0 must be at least 1`},
		},
		{
			name: "tracking end_after zero",
			src:  "tracking {\n  end_after = \"0s\"\n}",
			want: []string{`garssl.hcl:2:15: tracking.end_after = 0s must be greater than 0`},
		},
		{
			name: "tracking lost_after below end_after",
			src:  "tracking {\n  lost_after = \"2s\"\n}",
			want: []string{`garssl.hcl:2:16: tracking.lost_after = 2s must be positive and at least end_after (6s)`},
		},
		{
			name: "tracking negative heartbeat",
			src:  "tracking {\n  heartbeat = \"-1s\"\n}",
			want: []string{`garssl.hcl:2:15: tracking.heartbeat = -1s must be 0s (off) or positive`},
		},
		{
			name: "tracking update_bearing_deg zero",
			src:  "tracking {\n  update_bearing_deg = 0\n}",
			want: []string{`garssl.hcl:2:24: tracking.update_bearing_deg = 0 is out of range; use a value above 0 and at most 180`},
		},
		{
			name: "tracking update_centre_frac above 1",
			src:  "tracking {\n  update_centre_frac = 2\n}",
			want: []string{`garssl.hcl:2:24: tracking.update_centre_frac = 2 is out of range; use a value above 0 and at most 1`},
		},
		{
			name: "tracking too many max_tracks",
			src:  "tracking {\n  max_tracks = 17\n}",
			want: []string{`garssl.hcl:2:16: tracking.max_tracks = 17 is out of range; use 1 to 16`},
		},
		{
			name: "stream tracking override out of range",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  tracking {\n    max_tracks = 0\n  }\n}",
			want: []string{`garssl.hcl:4:18: stream.front.tracking.max_tracks = 0 is out of range; use 1 to 16`},
		},
		{
			name: "stream tracking unknown attribute",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  tracking {\n    end_afte = \"5s\"\n  }\n}",
			want: []string{`garssl.hcl:4:5: unknown attribute "end_afte" in stream.front.tracking; valid: enabled, confirm_hits, end_after, lost_after, heartbeat, update_bearing_deg, update_centre_frac, max_tracks; did you mean "end_after"?`},
		},
		{
			name: "audio options without audio source",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  audio_options = { channels = 2 }\n}",
			want: []string{`garssl.hcl:3:19: stream.front.audio_options is set but stream.front.audio is empty; options for the input's own audio go in options`},
		},
		{
			name: "options written as a block",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  options {\n    rtsp_transport = \"tcp\"\n  }\n}",
			want: []string{`garssl.hcl:3:3: stream.front.options is an attribute, not a block; write options = …`},
		},
		{
			name: "options with a nested object",
			src:  "stream \"front\" {\n  input = \"a.mp4\"\n  options = { a = { b = 1 } }\n}",
			want: []string{`garssl.hcl:3:13: stream.front.options must be a map of strings, not an object`},
		},
		{
			name: "block written as an attribute",
			src:  `mllm = { model = "x" }`,
			want: []string{`garssl.hcl:1:1: mllm is a block, not an attribute; write mllm { … } without "="`},
		},
		{
			name: "misspelt block",
			src:  "mlm {\n}",
			want: []string{`garssl.hcl:1:1: unknown block "mlm" at top level; valid: log, mllm, gar, mqtt, http, tracking, stream; did you mean "mllm"?`},
		},
		{
			name: "block where none are valid",
			src:  "gar {\n  extra {\n  }\n}",
			want: []string{`garssl.hcl:2:3: unknown block "extra" in gar; no blocks are valid here`},
		},
		{
			name: "duplicate block",
			src:  "gar {\n}\ngar {\n}",
			want: []string{`garssl.hcl:3:1: duplicate gar block; the first is at garssl.hcl:1:1`},
		},
		{
			name: "label on an unlabelled block",
			src:  "mllm \"a\" {\n}",
			want: []string{`garssl.hcl:1:6: mllm block takes no label; write mllm { … }`},
		},
		{
			name: "stream without label",
			src:  "stream {\n}",
			want: []string{`garssl.hcl:1:1: stream block takes exactly one label, its name, e.g. stream "front" { … }`},
		},
		{
			name: "unknown log level and format",
			src:  "log {\n  level = \"verbose\"\n  format = \"yaml\"\n}",
			want: []string{
				`garssl.hcl:2:11: log.level "verbose" is not one of "trace", "debug", "info", "warn", "error"`,
				`garssl.hcl:3:12: log.format "yaml" is not one of "auto", "json", "text"`,
			},
		},
		{
			name: "variable reference",
			src:  `node_id = robot`,
			want: []string{"garssl.hcl:1:11: node_id must be a literal value; variables, functions, operators and ${…} are not evaluated in this file"},
		},
		{
			name: "expressions are not evaluated",
			src: `mqtt {
  max_pending = 10 * 1000
  topic_prefix = "g${1}"
  store_dir = [for d in ["a"]: d][0]
}`,
			want: []string{
				"garssl.hcl:2:17: mqtt.max_pending must be a literal value; variables, functions, operators and ${…} are not evaluated in this file",
				"garssl.hcl:3:18: mqtt.topic_prefix must be a literal value; variables, functions, operators and ${…} are not evaluated in this file",
				"garssl.hcl:4:15: mqtt.store_dir must be a literal value; variables, functions, operators and ${…} are not evaluated in this file",
			},
		},
		{
			name: "number beyond float64",
			src:  "gar {\n  model_size = 1e999999999\n  tau_av = 1e-999999\n}\nnode_id = 1e400",
			want: []string{
				"garssl.hcl:2:16: gar.model_size holds a number too large or too small to use",
				"garssl.hcl:3:12: gar.tau_av holds a number too large or too small to use",
				"garssl.hcl:5:11: node_id holds a number too large or too small to use",
			},
		},
		{
			name: "attribute set twice",
			src:  "node_id = \"a\"\nnode_id = \"b\"",
			want: []string{`garssl.hcl:2:1: Attribute redefined; The argument "node_id" was already set at garssl.hcl:1,1-8. Each argument may be set only once.`},
		},
		{
			name: "every problem is reported, in file order",
			src: `stream "front" {
  input = "a.mp4"
  hop = "-3s"
}
gar {
  model_size = 640
  bogus = 1
}
mqtt {
  qos = -1
}`,
			want: []string{
				`garssl.hcl:3:9: stream.front.hop = -3s must be greater than 0`,
				`garssl.hcl:6:16: gar.model_size = 640 is not a multiple of 28; use 616, 644, 672, …`,
				`garssl.hcl:7:3: unknown attribute "bogus" in gar; valid: analysis_trials, tau_av, tau_audio, max_sources, model_size, silence_dbfs, temperature, top_p, keep_raw`,
				`garssl.hcl:10:9: mqtt.qos = -1 is out of range; use 0 to 2`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.ReplaceAll(tt.src, "$DIR", dir)
			cfg, err := Parse([]byte(src), "garssl.hcl")
			if err == nil {
				t.Fatalf("Parse accepted the config:\n%s", cfg)
			}
			if cfg != nil {
				t.Errorf("Parse returned a config alongside an error")
			}
			var diags Diagnostics
			if !errors.As(err, &diags) {
				t.Fatalf("error is %T, want Diagnostics: %v", err, err)
			}
			want := make([]string, len(tt.want))
			for i, w := range tt.want {
				want[i] = strings.ReplaceAll(w, "$DIR", dir)
			}
			if got := diags.Lines(); !slices.Equal(got, want) {
				t.Errorf("diagnostics:\n got  %q\n want %q", got, want)
			}
			if got, want := err.Error(), strings.Join(want, "\n"); got != want {
				t.Errorf("Error() = %q, want %q", got, want)
			}
			for _, s := range tt.secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("diagnostics leak the secret %q: %s", s, err)
				}
			}
		})
	}
}

func TestValidateForRunRequiresAStream(t *testing.T) {
	cfg, err := Parse([]byte("gar {\n  model_size = 448\n}\n"), "garssl.hcl")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate without streams: %v", err)
	}
	err = cfg.ValidateForRun()
	want := `garssl.hcl:1:1: no stream blocks; run needs at least one, e.g. stream "front" { input = "rtsp://cam.local/stream1" }`
	if err == nil || err.Error() != want {
		t.Errorf("ValidateForRun = %v, want %q", err, want)
	}
}

func TestLoadFileMissing(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "none.hcl"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadFile of a missing file = %v, want an error wrapping fs.ErrNotExist", err)
	}
	var diags Diagnostics
	if errors.As(err, &diags) {
		t.Errorf("a missing file is reported as Diagnostics: %v", err)
	}
}
