package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestDefaultMatchesDesign spells out the example values of design §5
// (and the brief) independently of Default.
func TestDefaultMatchesDesign(t *testing.T) {
	got := Default()
	if got.NodeID == "" || !isTopicLevel(got.NodeID) {
		t.Errorf("NodeID = %q, want a valid topic level derived from the host name", got.NodeID)
	}
	if host, err := os.Hostname(); err == nil && host != "" {
		first, _, _ := strings.Cut(host, ".")
		if isTopicLevel(first) && got.NodeID != first {
			t.Errorf("NodeID = %q, want the host name's first label %q", got.NodeID, first)
		}
	}
	want := Config{
		NodeID: got.NodeID,
		Log:    Log{Level: "info", Format: "auto"},
		// The shutdown_timeout.
		ShutdownTimeout: 10 * time.Second,
		MLLM: MLLM{
			Endpoints:        []string{"http://127.0.0.1:8000/v1"},
			Model:            "Qwen/Qwen2.5-Omni-7B",
			Timeout:          20 * time.Second,
			MaxInFlight:      8,
			SupportsN:        true,
			StructuredOutput: true,
			Schedule:         "parallel",
			Breaker:          Breaker{ConsecutiveFailures: 5, OpenMin: time.Second, OpenFor: 30 * time.Second},
			WindowDeadline:   30 * time.Second,
		},
		GAR: GAR{
			AnalysisTrials: 5, TauAV: 0.5, TauAudio: 0.75, MaxSources: 1, ModelSize: 224,
			SilenceDBFS: -60, Temperature: 0.4, TopP: 0.9, KeepRaw: false,
		},
		MQTT: MQTT{
			Broker: "tcp://127.0.0.1:1883", QoS: 1, TopicPrefix: "garssl",
			StoreDir: "/var/lib/garssl/mqtt", MaxPending: 10000, MaxAge: 10 * time.Minute,
			ClientID: "garssld-" + got.NodeID, MaxReconnectInterval: 30 * time.Second,
			VerifyDelivery: true, ConfirmWithin: 10 * time.Second, MaxMessageBytes: 256 << 10,
		},
		HTTP: HTTP{Listen: "127.0.0.1:9464", View: true, ViewWindows: 20, MaxViewers: 16},
		// Issue 15's defaults.
		Tracking: Tracking{
			Enabled: true, ConfirmHits: 1, EndAfter: 6 * time.Second, LostAfter: 30 * time.Second,
			Heartbeat: time.Minute, UpdateBearingDeg: 5, UpdateCentreFrac: 0.05, MaxTracks: 16,
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Default() =\n%s\nwant\n%s", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Default() does not validate: %v", err)
	}
	if err := got.ValidateForRun(); err == nil {
		t.Errorf("Default() has no streams, yet ValidateForRun accepted it")
	}

	s := DefaultStream()
	wantStream := Stream{Window: 3 * time.Second, Hop: 3 * time.Second, MaxQueue: 2,
		StaleAfter: 10 * time.Second, StallTimeout: 5 * time.Second, Realtime: true, Enabled: true, DecoderThreads: 1,
		FramePick: FramePickExact, FrameTolerance: 500 * time.Millisecond}
	if !reflect.DeepEqual(s, wantStream) {
		t.Errorf("DefaultStream() = %+v, want %+v", s, wantStream)
	}
}

func TestDefaultsAreFreshCopies(t *testing.T) {
	a := Default()
	a.MLLM.Endpoints[0] = "http://changed/v1"
	if b := Default(); b.MLLM.Endpoints[0] != "http://127.0.0.1:8000/v1" {
		t.Errorf("changing one Default() changed the next: %q", b.MLLM.Endpoints[0])
	}
}

func TestNodeIDFromHostname(t *testing.T) {
	tests := []struct{ host, want string }{
		{"robot-7", "robot-7"},
		{"robot-7.fleet.local", "robot-7"},
		{"Robot_7", "Robot_7"},
		{"héte", "h_te"},
		{"a+b", "a_b"},
		{"", "garssl"},
		{".local", "garssl"},
	}
	for _, tt := range tests {
		if got := nodeIDFromHostname(tt.host); got != tt.want {
			t.Errorf("nodeIDFromHostname(%q) = %q, want %q", tt.host, got, tt.want)
		}
	}
}

func TestConfigBuiltInCodeValidates(t *testing.T) {
	c := Default()
	s := DefaultStream()
	s.Name, s.Input = "front", "rtsp://cam/1"
	c.Streams = append(c.Streams, s)
	if err := c.ValidateForRun(); err != nil {
		t.Fatalf("ValidateForRun: %v", err)
	}
	c.GAR.ModelSize = 230
	err := c.Validate()
	want := "gar.model_size = 230 is not a multiple of 28; use 224, 252, 280, …"
	if err == nil || err.Error() != want {
		t.Errorf("Validate = %v, want %q (no position for a config built in code)", err, want)
	}
}
