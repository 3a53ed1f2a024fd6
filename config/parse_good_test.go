package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// withoutMeta drops the source positions, which DeepEqual would otherwise
// compare.
func withoutMeta(c Config) Config {
	c.meta = nil
	return c
}

func stream(name, input string, edit func(*Stream)) Stream {
	s := DefaultStream()
	s.Name, s.Input = name, input
	if edit != nil {
		edit(&s)
	}
	return s
}

func TestParseGoodConfigs(t *testing.T) {
	inFixture(t)
	dir := secretFixture(t)
	if err := os.WriteFile(filepath.Join(dir, "cat.mkv"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		src  string
		want func(c *Config) // edits Default() into the expected config
	}{
		{
			name: "empty file is all defaults",
			src:  "",
			want: func(c *Config) {},
		},
		{
			name: "view off on the network",
			src:  "http {\n  listen = \":9464\"\n  view = false\n}",
			want: func(c *Config) { c.HTTP.Listen, c.HTTP.View = ":9464", false },
		},
		{
			name: "view opened on the network on purpose",
			src:  "http {\n  listen = \"10.0.0.5:9464\"\n  insecure_open = true\n}",
			want: func(c *Config) { c.HTTP.Listen, c.HTTP.InsecureOpen = "10.0.0.5:9464", true },
		},
		{
			name: "view on localhost by name",
			src:  "http {\n  listen = \"localhost:9464\"\n}",
			want: func(c *Config) { c.HTTP.Listen = "localhost:9464" },
		},
		{
			name: "every field set",
			src: `node_id = "robot-7"
shutdown_timeout = "20s"
log {
  level = "debug"
  format = "json"
}
mllm {
  endpoints = ["http://gpu-1:8000/v1", "https://gpu-2/v1"]
  model = "Qwen/Qwen2.5-Omni-3B"
  api_key_file = "$DIR/key"
  timeout = "15s"
  max_in_flight = 8
  supports_n = false
  structured_output = false
  schedule = "sequential"
  window_deadline = "45s"
  breaker {
    consecutive_failures = 3
    open_min = "2s"
    open_for = "1m"
  }
}
gar {
  analysis_trials = 3
  tau_av = 0.75
  tau_audio = 0.5
  max_sources = 2
  model_size = 448
  silence_dbfs = -50.5
  temperature = 0.7
  top_p = 0.95
  keep_raw = true
}
mqtt {
  broker = "mqtts://broker:8883"
  qos = 2
  topic_prefix = "fleet/garssl"
  store_dir = "/tmp/q"
  max_pending = 50
  max_age = "1h"
  username = "robot-7"
  password_file = "$DIR/key"
  client_id = "r7"
  max_reconnect_interval = "5s"
  verify_delivery = false
  confirm_within = "3s"
  max_message_bytes = 65536
  tls {
    ca_file = "$DIR/key"
    cert_file = "$DIR/key"
    key_file = "$DIR/key"
  }
}
http {
  listen = ":9100"
  view = true
  view_windows = 40
  max_viewers = 4
  auth_file = "$DIR/htpasswd"
  auth_metrics = true
  insecure_open = false
}
stream "front" {
  input = "rtsp://cam/1"
  audio = "alsa:hw:1,0"
  options = { rtsp_transport = "tcp" }
  audio_options = { channels = "2" }
  window = "2s"
  hop = "1s"
  max_queue = 4
  stale_after = "6s"
  loop = false
  realtime = true
  enabled = false
  stall_timeout = "8s"
  skip_frame = "nokey"
  decoder_threads = 0
  frame_pick = "nearest_key"
  frame_tolerance = "250ms"
  camera {
    hfov_deg = 87.5
  }
}
`,
			want: func(c *Config) {
				c.NodeID = "robot-7"
				c.ShutdownTimeout = 20 * time.Second
				c.Log = Log{Level: "debug", Format: LogFormatJSON}
				c.MLLM = MLLM{
					Endpoints:        []string{"http://gpu-1:8000/v1", "https://gpu-2/v1"},
					Model:            "Qwen/Qwen2.5-Omni-3B",
					APIKeyFile:       dir + "/key",
					Timeout:          15 * time.Second,
					MaxInFlight:      8,
					Schedule:         ScheduleSequential,
					Breaker:          Breaker{ConsecutiveFailures: 3, OpenMin: 2 * time.Second, OpenFor: time.Minute},
					WindowDeadline:   45 * time.Second,
					SupportsN:        false,
					StructuredOutput: false,
				}
				c.GAR = GAR{AnalysisTrials: 3, TauAV: 0.75, TauAudio: 0.5, MaxSources: 2, ModelSize: 448,
					SilenceDBFS: -50.5, Temperature: 0.7, TopP: 0.95, KeepRaw: true}
				c.MQTT = MQTT{
					Broker: "mqtts://broker:8883", QoS: 2, TopicPrefix: "fleet/garssl", StoreDir: "/tmp/q",
					MaxPending: 50, MaxAge: time.Hour, Username: "robot-7", PasswordFile: dir + "/key", ClientID: "r7",
					MaxReconnectInterval: 5 * time.Second, VerifyDelivery: false, ConfirmWithin: 3 * time.Second,
					MaxMessageBytes: 65536,
					TLS:             &TLS{CAFile: dir + "/key", CertFile: dir + "/key", KeyFile: dir + "/key"},
				}
				c.HTTP = HTTP{Listen: ":9100", View: true, ViewWindows: 40, MaxViewers: 4, AuthFile: dir + "/htpasswd", AuthMetrics: true}
				c.Streams = []Stream{{
					Name: "front", Input: "rtsp://cam/1", Audio: "alsa:hw:1,0",
					Options:      map[string]string{"rtsp_transport": "tcp"},
					AudioOptions: map[string]string{"channels": "2"},
					Window:       2 * time.Second, Hop: time.Second, MaxQueue: 4,
					StaleAfter: 6 * time.Second, StallTimeout: 8 * time.Second,
					SkipFrame: SkipFrameNonKey, DecoderThreads: 0, Camera: &Camera{HFOVDeg: 87.5},
					FramePick: FramePickNearestKey, FrameTolerance: 250 * time.Millisecond,
					Realtime: true, Enabled: false,
				}}
			},
		},
		{
			name: "a file read as fast as it decodes, starting paused, and no shutdown grace",
			src:  "shutdown_timeout = \"0s\"\nstream \"a\" {\n  input = \"$DIR/cat.mkv\"\n  realtime = false\n  enabled = false\n}",
			want: func(c *Config) {
				c.ShutdownTimeout = 0
				c.Streams = []Stream{stream("a", dir+"/cat.mkv", func(s *Stream) { s.Realtime, s.Enabled = false, false })}
			},
		},
		{
			name: "a microphone array with every attribute",
			src: `stream "s" {
  input = "clip.mp4"
  mic_array {
    positions = [[0.032, 0, 0], [0, 0.032, 0], [-0.032, 0, 0], [0, -0.032, 0]]
    channels = [1, 2, 3, 4]
    yaw_offset_deg = 180
    pitch_offset_deg = -90
    tolerance_deg = 20
    hint = false
    max_sources = 4
  }
}`,
			want: func(c *Config) {
				c.Streams = []Stream{stream("s", "clip.mp4", func(s *Stream) {
					s.MicArray = &MicArray{
						Positions: [][3]float64{{0.032, 0, 0}, {0, 0.032, 0}, {-0.032, 0, 0}, {0, -0.032, 0}},
						Channels:  []int{1, 2, 3, 4}, YawOffsetDeg: 180, PitchOffsetDeg: -90, ToleranceDeg: 20, MaxSources: 4,
					}
				})}
			},
		},
		{
			name: "a microphone pair takes the first channels and the defaults",
			src:  "stream \"s\" {\n  input = \"clip.mp4\"\n  mic_array {\n    positions = [[0, 0.05, 0], [0, -0.05, 0]]\n  }\n}",
			want: func(c *Config) {
				c.Streams = []Stream{stream("s", "clip.mp4", func(s *Stream) {
					m := DefaultMicArray()
					m.Positions, m.Channels = [][3]float64{{0, 0.05, 0}, {0, -0.05, 0}}, []int{0, 1}
					s.MicArray = &m
				})}
			},
		},
		{
			name: "client id follows node id",
			src:  `node_id = "robot-9"`,
			want: func(c *Config) {
				c.NodeID = "robot-9"
				c.MQTT.ClientID = "garssld-robot-9"
			},
		},
		{
			name: "open_for below the default open_min, which follows it",
			src:  "mllm {\n  breaker {\n    open_for = \"500ms\"\n  }\n}",
			want: func(c *Config) {
				c.MLLM.Breaker.OpenFor = 500 * time.Millisecond
				c.MLLM.Breaker.OpenMin = 500 * time.Millisecond
			},
		},
		{
			name: "null keeps the default",
			src:  "gar {\n  tau_av = null\n}\nmllm {\n  endpoints = null\n}",
			want: func(c *Config) {},
		},
		{
			name: "HCL conversions between numbers, strings and bools",
			src: `mqtt {
  qos = "0"
}
stream "s" {
  input = "clip.mp4"
  options = { stimeout = 5000000, fflags = true }
}`,
			want: func(c *Config) {
				c.MQTT.QoS = 0
				c.Streams = []Stream{stream("s", "clip.mp4", func(s *Stream) {
					s.Options = map[string]string{"stimeout": "5000000", "fflags": "true"}
				})}
			},
		},
		{
			name: "trailing slashes dropped from endpoints",
			src:  "mllm {\n  endpoints = [\"http://a:8000/v1/\", \"http://b:8000//\"]\n}",
			want: func(c *Config) { c.MLLM.Endpoints = []string{"http://a:8000/v1", "http://b:8000"} },
		},
		{
			name: "overlapping windows, sampled windows and sample-sized durations",
			src: `stream "overlap" {
  input = "a.mp4"
  window = "3s"
  hop = "1.5s"
}
stream "sampled" {
  input = "b.mp4"
  window = "2s"
  hop = "10s"
}
stream "tiny" {
  input = "c.mp4"
  window = "500ms"
  hop = "62.5us"
}`,
			want: func(c *Config) {
				c.Streams = []Stream{
					stream("overlap", "a.mp4", func(s *Stream) { s.Hop = 1500 * time.Millisecond }),
					stream("sampled", "b.mp4", func(s *Stream) { s.Window, s.Hop = 2*time.Second, 10*time.Second }),
					stream("tiny", "c.mp4", func(s *Stream) { s.Window, s.Hop = 500*time.Millisecond, 62500*time.Nanosecond }),
				}
			},
		},
		{
			name: "file inputs may loop",
			src: `stream "a" {
  input = "clips/dog.mp4"
  loop = true
}
stream "b" {
  input = "file://$DIR/cat.mkv"
  loop = true
}`,
			want: func(c *Config) {
				c.Streams = []Stream{
					stream("a", "clips/dog.mp4", func(s *Stream) { s.Loop = true }),
					stream("b", "file://"+dir+"/cat.mkv", func(s *Stream) { s.Loop = true }),
				}
			},
		},
		{
			name: "devices and credentials in stream URLs",
			src: `stream "cam_1" {
  input = "rtsp://admin:pw@cam/1"
  audio = "pulse:default"
  audio_options = { sample_rate = 48000 }
}`,
			want: func(c *Config) {
				c.Streams = []Stream{stream("cam_1", "rtsp://admin:pw@cam/1", func(s *Stream) {
					s.Audio = "pulse:default"
					s.AudioOptions = map[string]string{"sample_rate": "48000"}
				})}
			},
		},
		{
			name: "bounds are inclusive",
			src: `gar {
  analysis_trials = 16
  tau_av = 0
  tau_audio = 1
  max_sources = 4
  model_size = 1792
  silence_dbfs = -120
  temperature = 0
  top_p = 1
}
mqtt {
  qos = 0
  broker = "wss://broker/mqtt"
}`,
			want: func(c *Config) {
				c.GAR = GAR{AnalysisTrials: 16, TauAV: 0, TauAudio: 1, MaxSources: 4, ModelSize: 1792,
					SilenceDBFS: -120, Temperature: 0, TopP: 1}
				c.MQTT.QoS = 0
				c.MQTT.Broker = "wss://broker/mqtt"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.ReplaceAll(tt.src, "$DIR", dir)
			cfg, err := Parse([]byte(src), "garssl.hcl")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := Default()
			tt.want(&want)
			if got := withoutMeta(*cfg); !reflect.DeepEqual(got, want) {
				t.Errorf("decoded:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestDefaultsAppliedForAbsentAttributes checks that empty blocks change
// nothing and that a stream starts from DefaultStream.
func TestDefaultsAppliedForAbsentAttributes(t *testing.T) {
	src := `log {}
mllm {
  breaker {}
}
gar {}
mqtt {}
http {}
stream "front" {
  input = "v4l2:/dev/video0"
}
`
	cfg, err := Parse([]byte(src), "garssl.hcl")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Default()
	want.Streams = []Stream{stream("front", "v4l2:/dev/video0", nil)}
	if got := withoutMeta(*cfg); !reflect.DeepEqual(got, want) {
		t.Errorf("decoded:\n%s\nwant:\n%s", got, want)
	}
	if err := cfg.ValidateForRun(); err != nil {
		t.Errorf("ValidateForRun: %v", err)
	}
}

// TestStreamTrackingOverride: a stream's tracking block starts from the
// top-level one wherever that is written in the file, and overrides only
// what it sets; a stream without one follows the top-level block.
func TestStreamTrackingOverride(t *testing.T) {
	src := `stream "front" {
  input = "v4l2:/dev/video0"
  tracking {
    update_bearing_deg = 3
  }
}
stream "back" {
  input = "v4l2:/dev/video1"
}
tracking {
  end_after = "9s"
  heartbeat = "0s"
}
`
	cfg, err := Parse([]byte(src), "garssl.hcl")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	top := Default().Tracking
	top.EndAfter, top.Heartbeat = 9*time.Second, 0
	front := top
	front.UpdateBearingDeg = 3
	if got := cfg.TrackingOf(cfg.Streams[0]); got != front {
		t.Errorf("front's tracking = %+v, want %+v", got, front)
	}
	if got := cfg.TrackingOf(cfg.Streams[1]); got != top {
		t.Errorf("back's tracking = %+v, want the top-level %+v", got, top)
	}
	// String writes the override in full, and reads back the same.
	again, err := Parse([]byte(cfg.String()), "again.hcl", SkipFileChecks())
	if err != nil {
		t.Fatalf("Parse(String()): %v", err)
	}
	if got := again.TrackingOf(again.Streams[0]); got != front {
		t.Errorf("after String, front's tracking = %+v, want %+v", got, front)
	}
}
