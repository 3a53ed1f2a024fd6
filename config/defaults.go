package config

import (
	"os"
	"strings"
	"time"

	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/gar/mllm"
	"github.com/garssl/garssld/track"
)

// Default returns the configuration used for everything a file leaves out.
// The GAR and model-client values are those packages' own Default
// constants, so each default is written once. It has no streams and
// validates as is. NodeID is derived from the host
// name.
func Default() Config {
	nodeID := defaultNodeID()
	return Config{
		NodeID: nodeID,
		Log:    Log{Level: "info", Format: LogFormatAuto},
		// Windows at the model finish within it; a GAR loop on a busy
		// server takes a few seconds.
		ShutdownTimeout: 10 * time.Second,
		MLLM: MLLM{
			Endpoints:        []string{"http://127.0.0.1:8000/v1"},
			Model:            "Qwen/Qwen2.5-Omni-7B",
			Timeout:          mllm.DefaultTimeout,
			MaxInFlight:      mllm.DefaultMaxInFlight,
			SupportsN:        true,
			StructuredOutput: true,
			Schedule:         ScheduleParallel,
			Breaker:          Breaker{ConsecutiveFailures: mllm.DefaultConsecutiveFailures, OpenMin: mllm.DefaultOpenMin, OpenFor: mllm.DefaultOpenFor},
			WindowDeadline:   30 * time.Second,
		},
		GAR: GAR{
			AnalysisTrials: gar.DefaultAnalysisTrials,
			TauAV:          gar.DefaultTauAV,
			TauAudio:       gar.DefaultTauAudio,
			MaxSources:     1,
			ModelSize:      224,
			SilenceDBFS:    -60,
			Temperature:    gar.DefaultTemperature,
			TopP:           gar.DefaultTopP,
		},
		MQTT: MQTT{
			Broker:               "tcp://127.0.0.1:1883",
			QoS:                  1,
			TopicPrefix:          "garssl",
			StoreDir:             "/var/lib/garssl/mqtt",
			MaxPending:           10000,
			MaxAge:               10 * time.Minute,
			MaxReconnectInterval: 30 * time.Second,
			VerifyDelivery:       true,
			ConfirmWithin:        10 * time.Second,
			MaxMessageBytes:      256 << 10,
			// Parse derives it again when the file sets node_id.
			ClientID: defaultClientID(nodeID),
		},
		HTTP:     HTTP{Listen: "127.0.0.1:9464", View: true, ViewWindows: 20, MaxViewers: 16},
		Tracking: defaultTracking(),
	}
}

// defaultTracking is the tracker's own defaults (track.DefaultConfig), so
// each is written once.
func defaultTracking() Tracking {
	t := track.DefaultConfig()
	return Tracking{
		Enabled:          true,
		ConfirmHits:      t.ConfirmHits,
		EndAfter:         t.EndAfter,
		LostAfter:        t.LostAfter,
		Heartbeat:        t.Heartbeat,
		UpdateBearingDeg: t.UpdateBearingDeg,
		UpdateCentreFrac: t.UpdateCentreFrac,
		MaxTracks:        t.MaxTracks,
	}
}

// DefaultStream returns the values a stream block starts from. Name and
// Input have no default.
func DefaultStream() Stream {
	return Stream{
		Window:         3 * time.Second,
		Hop:            3 * time.Second,
		MaxQueue:       2,
		StaleAfter:     10 * time.Second,
		StallTimeout:   5 * time.Second,
		Realtime:       true,
		Enabled:        true,
		DecoderThreads: 1,
		FramePick:      FramePickExact,
		FrameTolerance: 500 * time.Millisecond,
	}
}

// DefaultMicArray returns the values a mic_array block starts from.
// Positions have no default; Channels default to the first
// len(Positions) channels, in order, once the positions are known.
func DefaultMicArray() MicArray {
	return MicArray{ToleranceDeg: 15, Hint: true, MaxSources: 1}
}

// defaultClientID is the MQTT client id used when the file sets none.
func defaultClientID(nodeID string) string { return "garssld-" + nodeID }

// fallbackNodeID is used when the host name yields nothing usable.
const fallbackNodeID = "garssl"

func defaultNodeID() string {
	host, err := os.Hostname()
	if err != nil {
		return fallbackNodeID
	}
	return nodeIDFromHostname(host)
}

// nodeIDFromHostname turns a host name into a valid topic level: the first
// DNS label, with any other character replaced by "_".
func nodeIDFromHostname(host string) string {
	label, _, _ := strings.Cut(host, ".")
	id := strings.Map(func(r rune) rune {
		if isTopicLevelRune(r) {
			return r
		}
		return '_'
	}, label)
	if id == "" {
		return fallbackNodeID
	}
	return id
}
