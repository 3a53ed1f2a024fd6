package config

import "time"

// Config is the whole daemon configuration, as decoded from one HCL file
// with defaults applied to everything the file leaves out.
type Config struct {
	// NodeID names this robot in MQTT topics, payloads and X-Request-Id
	// headers. It must be a single MQTT topic level ([A-Za-z0-9_-]+).
	// Default: the host name up to its first dot.
	NodeID string

	// Log configures the daemon's own logging.
	Log Log

	// ShutdownTimeout is how long `run`, once told to stop, lets windows
	// already at the model finish and be published before it cancels
	// them. The MQTT flush comes after it, so keep it well below systemd's
	// TimeoutStopSec (30s in the shipped unit).
	ShutdownTimeout time.Duration

	// MLLM configures the OpenAI-compatible model server(s) and how requests
	// are scheduled on them.
	MLLM MLLM

	// GAR holds the parameters of the Generation–Analysis–Refinement loop.
	GAR GAR

	// MQTT configures where results are published.
	MQTT MQTT

	// HTTP configures the /metrics, /healthz and /readyz listener.
	HTTP HTTP

	// Tracking turns each stream's detections into tracks with stable ids
	// and publishes their lifecycle (issue 15). A stream's own tracking
	// block overrides it.
	Tracking Tracking

	// Streams are the capture sources, in file order. `locate` needs none;
	// `run` needs at least one (see ValidateForRun).
	Streams []Stream

	// meta records where every value came from, so that validation can
	// point at it. It is nil for configs built in code.
	meta *meta
}

// Log configures logging.
type Log struct {
	// Level is the minimum level logged: trace, debug, info, warn or error.
	Level string

	// Format is the output format; LogFormatAuto picks text on a terminal
	// and JSON otherwise (journald, files, pipes).
	Format LogFormat
}

// LogFormat selects the log output format.
type LogFormat string

// The accepted log formats.
const (
	LogFormatAuto LogFormat = "auto"
	LogFormatJSON LogFormat = "json"
	LogFormatText LogFormat = "text"
)

// MLLM configures the model servers.
type MLLM struct {
	// Endpoints are base URLs of OpenAI-compatible servers; requests go to
	// "{endpoint}/chat/completions". Trailing slashes are removed at load.
	// Each request goes to the least-loaded endpoint whose breaker is closed.
	Endpoints []string

	// Model is the model name sent in every request, e.g.
	// "Qwen/Qwen2.5-Omni-7B".
	Model string

	// APIKeyFile optionally names a file holding a bearer token; read it
	// with APIKey. Empty means no Authorization header.
	APIKeyFile string

	// Timeout bounds one HTTP request, including reading the answer.
	Timeout time.Duration

	// MaxInFlight caps concurrent requests per endpoint, shared fairly by
	// all streams.
	MaxInFlight int

	// SupportsN says the server honours "n" (several choices from one
	// request), so analysis trials go out as one request. vLLM does,
	// llama.cpp does not.
	SupportsN bool

	// StructuredOutput sends a JSON schema as response_format so the server
	// constrains decoding. Answers are validated in Go either way.
	StructuredOutput bool

	// Schedule says whether the requests of one window may overlap.
	Schedule Schedule

	// Breaker configures the per-endpoint circuit breaker.
	Breaker Breaker

	// WindowDeadline bounds the whole GAR loop of one window, all stages
	// and retries included; a window that exceeds it is published as
	// mllm_unavailable.
	WindowDeadline time.Duration
}

// Schedule selects how the requests of one window are issued.
type Schedule string

// The accepted schedules.
const (
	// ScheduleParallel runs the two generation requests concurrently and
	// sends analysis trials with n=N (or concurrently without n support).
	ScheduleParallel Schedule = "parallel"
	// ScheduleSequential issues every request after the previous one has
	// finished, and sends analysis trials as separate requests. It suits
	// single-slot servers such as llama-server -np 1, where concurrent
	// requests only queue and time out.
	ScheduleSequential Schedule = "sequential"
)

// Breaker configures a circuit breaker that trips on transport failures
// (connection errors, timeouts, 5xx), never on unparseable answers.
type Breaker struct {
	// ConsecutiveFailures opens the breaker after this many transport
	// failures in a row.
	ConsecutiveFailures int

	// OpenMin is how long a breaker that just tripped rejects requests
	// before letting one probe through. Each failed probe doubles it, up to
	// OpenFor; a success resets it.
	OpenMin time.Duration

	// OpenFor caps the open time that failed probes double.
	OpenFor time.Duration
}

// GAR holds the parameters of the localisation loop (design §3).
type GAR struct {
	// AnalysisTrials is the number N of sampled analysis trials (1..16).
	AnalysisTrials int

	// TauAV is the audio-visual consistency threshold τ_av of the gate, in
	// [0,1].
	TauAV float64

	// TauAudio is the audio confidence threshold τ_audio of the gate, in
	// [0,1].
	TauAudio float64

	// MaxSources is the number K of sources localised per window (1..4);
	// K ≥ 2 is the paper's duet setting.
	MaxSources int

	// ModelSize is the side, in pixels, of the square image sent to the
	// model. It must be a multiple of 28, the Qwen2.5 processor's patch
	// grid, so the model answers in the same pixel space.
	ModelSize int

	// SilenceDBFS is the RMS level below which a window is published as
	// silent without calling the model. -120 in effect disables it.
	SilenceDBFS float64

	// Temperature is the sampling temperature of the analysis trials (the
	// other stages are greedy).
	Temperature float64

	// TopP is the nucleus sampling mass of the analysis trials.
	TopP float64

	// KeepRaw records every stage's raw model output with the result, for
	// debugging prompts. It makes payloads much larger.
	KeepRaw bool
}

// MQTT configures publishing.
type MQTT struct {
	// Broker is the broker URL: tcp://, mqtt://, ssl://, tls://, mqtts://,
	// ws:// or wss://. Credentials belong in Username and PasswordFile, not
	// in the URL.
	Broker string

	// QoS is the MQTT quality of service for detections (0, 1 or 2).
	QoS int

	// TopicPrefix starts every topic: "<prefix>/<node_id>/…". It may have
	// several levels but no wildcards, no empty levels, no leading or
	// trailing "/" and no leading "$".
	TopicPrefix string

	// StoreDir persists unacknowledged messages across restarts. The
	// daemon creates it; it is not checked at load.
	StoreDir string

	// MaxPending bounds the detections waiting for the broker's
	// acknowledgement (queued or stored); beyond it the oldest are dropped
	// and counted.
	MaxPending int

	// MaxAge drops a stored detection older than this instead of resending
	// it after a reconnect or restart; 0 keeps everything.
	MaxAge time.Duration

	// Username is sent when not empty.
	Username string

	// PasswordFile optionally names a file holding the password; read it
	// with Password. It requires Username.
	PasswordFile string

	// ClientID is the MQTT client identifier. Default: "garssld-<node_id>".
	ClientID string

	// MaxReconnectInterval caps the wait between attempts to reach the
	// broker (paho's own default is 10 minutes, too long for a robot that
	// just drove back into Wi-Fi range).
	MaxReconnectInterval time.Duration

	// VerifyDelivery subscribes to the node's own detections and confirms
	// that each published one comes back from the broker within
	// ConfirmWithin. MQTT 3.1.1 has no negative acknowledgement: a broker
	// acknowledges, then drops, what its ACL denies or what exceeds its
	// message size limit; the echo is the only way to see it.
	VerifyDelivery bool

	// ConfirmWithin is how long a published detection may take to come
	// back before it counts as unconfirmed.
	ConfirmWithin time.Duration

	// MaxMessageBytes bounds a detection's payload; a larger one is not
	// sent (a broker with a smaller message_size_limit would drop it
	// silently), but counted and logged.
	MaxMessageBytes int

	// TLS configures client TLS; nil uses the system roots for TLS broker
	// schemes and nothing for plain ones.
	TLS *TLS
}

// TLS names PEM files for the MQTT connection.
type TLS struct {
	// CAFile is a bundle of CA certificates to trust instead of the system
	// roots. Optional.
	CAFile string

	// CertFile is the client certificate; it goes together with KeyFile.
	CertFile string

	// KeyFile is the client private key; it goes together with CertFile.
	KeyFile string
}

// HTTP configures the operations listener.
type HTTP struct {
	// Listen is the host:port serving /metrics, /healthz and /readyz, and
	// the live view.
	Listen string

	// View serves the operator's live view at / (package view): the
	// latest windows' pictures with their boxes, their sound, and pause
	// and resume per stream.
	View bool

	// ViewWindows is how many windows of each stream keep their media in
	// memory for the view.
	ViewWindows int

	// MaxViewers bounds the pages following the view at once.
	MaxViewers int

	// AuthFile is an htpasswd file of bcrypt lines (`htpasswd -B`). When
	// set, the view (page, events, media, pause and resume) asks for HTTP
	// basic auth; a non-loopback Listen with the view on needs it.
	AuthFile string

	// AuthMetrics makes /metrics, /healthz and /readyz ask for the same
	// auth; they stay open otherwise, as scrapers and probes expect.
	AuthMetrics bool

	// InsecureOpen allows the view on a non-loopback Listen without
	// AuthFile: pictures and sound open to the network.
	InsecureOpen bool
}

// Stream is one capture source and its windowing.
type Stream struct {
	// Name is the block label; it is an MQTT topic level and a metric label.
	Name string

	// Input is what FFmpeg opens: a URL (rtsp://, udp://, srt://, http://,
	// file://), a device written "<demuxer>:<device>" (v4l2:/dev/video0,
	// alsa:hw:1,0, pulse:default) or a file path. URL credentials are
	// allowed and are redacted in messages and String output.
	Input string

	// Audio optionally names a separate audio source, in the same forms as
	// Input. Empty means the input's own audio.
	Audio string

	// Options are FFmpeg options for opening Input, e.g.
	// rtsp_transport = "tcp".
	Options map[string]string

	// AudioOptions are FFmpeg options for opening Audio.
	AudioOptions map[string]string

	// Window is the length of one analysed window. It must be a whole
	// number of 16 kHz samples (a multiple of 62.5µs) and at most 30s.
	Window time.Duration

	// Hop is the distance between window starts. Hop < Window overlaps
	// windows; Hop > Window analyses only part of the stream, which is a
	// deliberate way to reduce model load.
	Hop time.Duration

	// MaxQueue bounds windows waiting for the model; the oldest is dropped
	// when it is full.
	MaxQueue int

	// StaleAfter drops a window that has waited longer than this since its
	// end, because a late localisation is useless to a moving robot.
	StaleAfter time.Duration

	// Loop restarts a file input at its end. Only file inputs may loop.
	Loop bool

	// Realtime reads a file input at the media's own rate, as `ffmpeg -re`
	// does, so that it behaves like a camera. Live inputs arrive at their
	// own rate whatever it says, so false is refused for them.
	Realtime bool

	// Enabled false starts the stream paused: configured, listed in the
	// status, but not captured until a set command enables it.
	Enabled bool

	// StallTimeout declares a source dead when no packet arrived for this
	// long, and triggers a reconnect.
	StallTimeout time.Duration

	// SkipFrame lets the video decoder skip frames to save CPU.
	SkipFrame SkipFrame

	// FramePick is how the picture of each window is decoded: exact (only
	// the packets the frame nearest the centre depends on; the picture is
	// the one a full decode gives), nearest_key (the key frame nearest the
	// centre, within FrameTolerance), or all (every frame, as before).
	FramePick FramePick

	// FrameTolerance is how far from a window's centre nearest_key may take
	// a key frame.
	FrameTolerance time.Duration

	// DecoderThreads is the video decoder's thread count; 0 lets FFmpeg
	// pick one per CPU. One is the default: a stream in run arrives at its
	// own rate, decoding it takes a few % of a core, so frame threads buy
	// no throughput, and each costs a decoder context and a malloc arena
	// (about 8 MiB of RSS per 720p stream) and a frame of delay.
	DecoderThreads int

	// Camera optionally describes the camera's optics; with it, published
	// sources carry bearing_deg.
	Camera *Camera

	// MicArray optionally describes the stream's microphone array; with it
	// each window's multichannel sound gives a direction of arrival, fused
	// with the box (see doa/). nil: mono only, as the paper.
	MicArray *MicArray

	// Tracking, when the stream has its own tracking block, replaces the
	// top-level one for this stream (a camera that differs). It starts
	// from the top-level values; nil means the top-level block applies.
	Tracking *Tracking
}

// Tracking holds the tracker's settings; see track.Config.
type Tracking struct {
	// Enabled false publishes no events, no tracks and no track_id.
	Enabled bool
	// ConfirmHits is the hits that confirm a track (and send new).
	ConfirmHits int
	// EndAfter ends a track this long after its last hit, counted in
	// analysed windows.
	EndAfter time.Duration
	// LostAfter ends every track of a stream without an analysed window
	// for this long.
	LostAfter time.Duration
	// Heartbeat sends an update for a hit of a track whose last sent state
	// is this old; 0s turns heartbeats off.
	Heartbeat time.Duration
	// UpdateBearingDeg is the move of the smoothed bearing that sends an
	// update (streams with a camera).
	UpdateBearingDeg float64
	// UpdateCentreFrac is the move of the smoothed centre, as a fraction
	// of the frame diagonal, that sends an update (streams without one).
	UpdateCentreFrac float64
	// MaxTracks bounds the open tracks of a stream.
	MaxTracks int
}

// TrackingOf returns the tracking settings that apply to s.
func (c *Config) TrackingOf(s Stream) Tracking {
	if s.Tracking != nil {
		return *s.Tracking
	}
	return c.Tracking
}

// SkipFrame selects which video frames the decoder may skip.
type SkipFrame string

// The accepted skip_frame values.
const (
	SkipFrameNone   SkipFrame = ""      // decode every frame
	SkipFrameNonRef SkipFrame = "noref" // skip non-reference frames
	SkipFrameNonKey SkipFrame = "nokey" // decode key frames only
)

// FramePick selects how a window's picture is decoded.
type FramePick string

// The accepted frame_pick values.
const (
	FramePickExact      FramePick = "exact"       // decode what the nearest frame depends on
	FramePickNearestKey FramePick = "nearest_key" // the nearest key frame within frame_tolerance
	FramePickAll        FramePick = "all"         // decode every frame
)

// MicArray is a stream's microphone array: its geometry, which input
// channels are its microphones, and how its frame sits against the camera.
type MicArray struct {
	// Positions are the microphones in metres, in the array's frame after
	// ROS REP 103: x forward, y left, z up. At least 2, none coincident.
	Positions [][3]float64
	// Channels are the input channels (from 0) that carry the microphones,
	// in the order of Positions.
	Channels []int
	// YawOffsetDeg is the bearing of the array's x axis as the camera sees
	// it, in bearing_deg's convention: 0 on the optical axis, positive to
	// the right.
	YawOffsetDeg float64
	// PitchOffsetDeg is the array's x axis above the optical axis,
	// positive up.
	PitchOffsetDeg float64
	// ToleranceDeg is the disagreement between a box's bearing and a
	// confident direction of arrival beyond which the window is located
	// again with the direction as a hint.
	ToleranceDeg float64
	// Hint false never locates again with a direction hint (the paper's
	// loop, with the agreement still published).
	Hint bool
	// MaxSources bounds the directions reported per window.
	MaxSources int
}

// Camera describes the optics used to turn a box into a bearing.
type Camera struct {
	// HFOVDeg is the horizontal field of view in degrees, above 0 and
	// below 180 (the bearing uses a pinhole model).
	HFOVDeg float64
}
