package config

import (
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/garssl/garssld/httpauth"
	"github.com/garssl/garssld/internal/redact"
	"github.com/garssl/garssld/track"
)

// Limits that the design leaves open; the package doc explains them.
const (
	maxAnalysisTrials = 16
	maxSources        = 4
	modelSizeStep     = 28 // Qwen2.5 processor patch grid (14 px × 2×2 merge)
	minModelSize      = modelSizeStep
	maxModelSize      = 64 * modelSizeStep // 4096 image tokens
	minSilenceDBFS    = -120
	maxTemperature    = 2
	maxWindow         = 30 * time.Second // Whisper-style audio encoder input
	maxClientIDBytes  = 256
	maxHFOVDeg        = 180
	// A microphone array: beyond 16 microphones (120 pairs) direction
	// finding costs more than a window allows; a position further than
	// 5 m from the array's origin is millimetres written as metres; two
	// microphones closer than 1 mm are one; FFmpeg's layouts name at most
	// 64 channels; more than 4 directions per window cannot be told apart
	// by the small arrays robots carry.
	maxMics           = 16
	maxMicOffsetM     = 5
	minMicSpacingM    = 0.001
	maxAudioChannel   = 63
	maxDoASources     = 4
	maxDecoderThreads = 16                  // FFmpeg's own cap on automatic frame threads
	sampleDuration    = time.Second / 16000 // 62.5µs, one sample at 16 kHz
	// paho starts reconnecting after 1s; beyond paho's own default of 10m
	// a robot back in range waits for nothing.
	minReconnectInterval = time.Second
	maxReconnectInterval = 10 * time.Minute
	// maxMessageAge is a week: a detection older than that is history,
	// and a longer limit is more likely a typo for 0.
	maxMessageAge = 7 * 24 * time.Hour
	// An echo takes milliseconds on a healthy broker; a second leaves room
	// for a loaded one, and past 10m an outage is long noticed anyway.
	minConfirmWithin = time.Second
	maxConfirmWithin = 10 * time.Minute
	// A detection is a few KiB (tens with keep_raw); MQTT's own limit is
	// 256 MiB.
	minMessageBytes = 1 << 10
	maxMessageBytes = 256 << 20
	// Topics are built from <topic_prefix>/<node_id>/<stream>/…; MQTT cuts
	// nothing below 65535 bytes, but brokers and dashboards are happier
	// with short ones, and a name this long is a pasted mistake.
	maxStreamNameBytes  = 64
	maxTopicPrefixBytes = 128
)

// maxFrameTolerance bounds frame_tolerance: capture's own bound on the
// distance of a window's picture from its centre (media.PictureTolerance).
const maxFrameTolerance = 500 * time.Millisecond

// maxShutdownTimeout bounds shutdown_timeout: past a few minutes a
// stopping daemon only looks hung to systemd.
const maxShutdownTimeout = 5 * time.Minute

var (
	logLevels    = []string{"trace", "debug", "info", "warn", "error"}
	logFormats   = []LogFormat{LogFormatAuto, LogFormatJSON, LogFormatText}
	schedules    = []Schedule{ScheduleParallel, ScheduleSequential}
	skipFrames   = []SkipFrame{SkipFrameNone, SkipFrameNonRef, SkipFrameNonKey}
	framePicks   = []FramePick{FramePickExact, FramePickNearestKey, FramePickAll}
	mqttSchemes  = []string{"tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss"}
	mqttTLS      = []string{"ssl", "tls", "mqtts", "wss"}
	mqttWSScheme = []string{"ws", "wss"}
)

// MinWindow is the shortest window, and the shortest sound `locate` sends:
// less carries too little to classify.
const MinWindow = 500 * time.Millisecond

// validator checks a decoded Config. Each check names a config path; the
// message is placed at the path's recorded range, or at its nearest
// enclosing block when the value is a default.
type validator struct {
	meta  *meta
	diags Diagnostics
}

func (v *validator) errorf(path, format string, args ...any) {
	d := Diagnostic{Message: fmt.Sprintf(format, args...)}
	if r, ok := v.meta.rangeOf(path); ok {
		d.Filename, d.Line, d.Column = r.Filename, r.Start.Line, r.Start.Column
	}
	if isFlag(d.Filename) && strings.HasPrefix(d.Message, d.Filename) {
		// The message names the flag already (see name).
		d.Filename = ""
	}
	v.diags = append(v.diags, d)
}

// report records a check's error, if any, at path.
func (v *validator) report(path string, err error) {
	if err != nil {
		v.errorf(path, "%s", err.Error())
	}
}

// name is how messages name the value at path: the flag that set it, or
// the path itself. A flag's message then reads like the file's, with the
// flag in place of the path ("--window = 31s is too long; …").
func (v *validator) name(path string) string {
	if v.meta != nil {
		if r, ok := v.meta.origin[path]; ok && isFlag(r.Filename) && r.Start.Line == 0 {
			return r.Filename
		}
	}
	return path
}

func isFlag(s string) bool { return strings.HasPrefix(s, "-") }

// validate checks everything; requireStreams adds the check that `run`
// needs and `locate` does not.
func (c *Config) validate(requireStreams bool) Diagnostics {
	v := &validator{meta: c.meta}
	v.topicLevel("node_id", "node_id", c.NodeID)
	if d := c.ShutdownTimeout; d < 0 || d > maxShutdownTimeout {
		v.errorf("shutdown_timeout", "shutdown_timeout = %s is out of range; use 0s to 5m", d)
	}
	v.log(c.Log)
	v.mllm(c.MLLM)
	v.gar(c.GAR)
	v.mqtt(c.MQTT)
	v.http(c.HTTP)
	v.tracking("tracking", c.Tracking)
	for _, s := range c.Streams {
		v.stream(s)
		if s.Tracking != nil && isTopicLevel(s.Name) {
			v.tracking(streamPath(s.Name)+".tracking", *s.Tracking)
		}
	}
	if requireStreams && len(c.Streams) == 0 {
		v.errorf("", `no stream blocks; run needs at least one, e.g. stream "front" { input = "rtsp://cam.local/stream1" }`)
	}
	return v.diags
}

func (v *validator) log(l Log) {
	v.report("log.level", CheckLogLevel(v.name("log.level"), l.Level))
	oneOf(v, "log.format", l.Format, logFormats)
}

func (v *validator) mllm(m MLLM) {
	if len(m.Endpoints) == 0 {
		v.errorf("mllm.endpoints", `%s is empty; give at least one, e.g. ["http://127.0.0.1:8000/v1"]`, v.name("mllm.endpoints"))
	}
	for i, e := range m.Endpoints {
		path := fmt.Sprintf("mllm.endpoints[%d]", i)
		v.endpoint(path, e)
		if j := slices.Index(m.Endpoints[:i], e); j >= 0 {
			v.errorf(path, "%s %q repeats mllm.endpoints[%d]", v.name(path), redactURL(e), j)
		}
	}
	if m.Model == "" {
		v.errorf("mllm.model", `%s is empty; name the served model, e.g. "Qwen/Qwen2.5-Omni-7B"`, v.name("mllm.model"))
	}
	v.secretFile("mllm.api_key_file", m.APIKeyFile)
	v.positiveDuration("mllm.timeout", m.Timeout)
	v.atLeast("mllm.max_in_flight", m.MaxInFlight, 1)
	oneOf(v, "mllm.schedule", m.Schedule, schedules)
	v.atLeast("mllm.breaker.consecutive_failures", m.Breaker.ConsecutiveFailures, 1)
	v.positiveDuration("mllm.breaker.open_min", m.Breaker.OpenMin)
	v.positiveDuration("mllm.breaker.open_for", m.Breaker.OpenFor)
	if b := m.Breaker; b.OpenMin > 0 && b.OpenFor > 0 && b.OpenMin > b.OpenFor {
		v.errorf("mllm.breaker.open_min", "%s = %s is longer than %s = %s, which caps it; use at most %s",
			v.name("mllm.breaker.open_min"), b.OpenMin, v.name("mllm.breaker.open_for"), b.OpenFor, b.OpenFor)
	}
	v.positiveDuration("mllm.window_deadline", m.WindowDeadline)
}

func (v *validator) endpoint(path, e string) {
	name := v.name(path)
	u, err := redact.ParseURL(e)
	switch {
	case err != nil:
		v.errorf(path, "%s %q is not a valid URL: %s", name, redactURL(e), err)
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.errorf(path, "%s %q is not an http(s) URL", name, redactURL(e))
	case u.User != nil || redact.HasQueryCredentials(e):
		v.errorf(path, "%s %q carries credentials in the URL; put the key in mllm.api_key_file instead", name, redactURL(e))
	case u.RawQuery != "" || u.Fragment != "":
		v.errorf(path, "%s %q has a query or fragment; give the base URL that /chat/completions is appended to", name, redactURL(e))
	}
}

func (v *validator) gar(g GAR) {
	v.intRange("gar.analysis_trials", g.AnalysisTrials, 1, maxAnalysisTrials)
	v.floatRange("gar.tau_av", g.TauAV, 0, 1)
	v.floatRange("gar.tau_audio", g.TauAudio, 0, 1)
	v.intRange("gar.max_sources", g.MaxSources, 1, maxSources)
	v.report("gar.model_size", CheckModelSize(v.name("gar.model_size"), g.ModelSize))
	v.floatRange("gar.silence_dbfs", g.SilenceDBFS, minSilenceDBFS, 0)
	v.floatRange("gar.temperature", g.Temperature, 0, maxTemperature)
	if !(g.TopP > 0 && g.TopP <= 1) {
		v.errorf("gar.top_p", "gar.top_p = %s is out of range; use a value above 0 and at most 1", formatFloat(g.TopP))
	}
}

func (v *validator) mqtt(m MQTT) {
	tlsScheme := v.broker(m.Broker)
	v.intRange("mqtt.qos", m.QoS, 0, 2)
	v.topicPrefix(m.TopicPrefix)
	v.storeDir(m.StoreDir)
	v.atLeast("mqtt.max_pending", m.MaxPending, 1)
	if d := m.MaxAge; d < 0 || d > maxMessageAge {
		v.errorf("mqtt.max_age", "mqtt.max_age = %s is out of range; use 0 (keep everything) to 168h", d)
	}
	v.secretFile("mqtt.password_file", m.PasswordFile)
	if m.PasswordFile != "" && m.Username == "" {
		v.errorf("mqtt.password_file", "mqtt.password_file is set but mqtt.username is empty; MQTT sends a password only with a user name")
	}
	switch {
	case m.ClientID == "":
		v.errorf("mqtt.client_id", "mqtt.client_id is empty; leave it out to use garssld-<node_id>")
	case len(m.ClientID) > maxClientIDBytes:
		// MQTT allows 65535 bytes, brokers need accept only 23; an id this
		// long is a pasted mistake.
		v.errorf("mqtt.client_id", "mqtt.client_id is %d bytes long; use at most %d", len(m.ClientID), maxClientIDBytes)
	}
	if d := m.MaxReconnectInterval; d < minReconnectInterval || d > maxReconnectInterval {
		v.errorf("mqtt.max_reconnect_interval", "mqtt.max_reconnect_interval = %s is out of range; use 1s to 10m", d)
	}
	if d := m.ConfirmWithin; m.VerifyDelivery && (d < minConfirmWithin || d > maxConfirmWithin) {
		v.errorf("mqtt.confirm_within", "mqtt.confirm_within = %s is out of range; use 1s to 10m", d)
	}
	v.intRange("mqtt.max_message_bytes", m.MaxMessageBytes, minMessageBytes, maxMessageBytes)
	if m.TLS == nil {
		return
	}
	if !tlsScheme {
		v.errorf("mqtt.tls", "mqtt.tls is set but mqtt.broker %q is not a TLS URL; use ssl://, tls://, mqtts:// or wss://", redactURL(m.Broker))
	}
	if (m.TLS.CertFile == "") != (m.TLS.KeyFile == "") {
		v.errorf("mqtt.tls", "mqtt.tls: cert_file and key_file go together; give both or neither")
	}
	v.file("mqtt.tls.ca_file", m.TLS.CAFile)
	v.file("mqtt.tls.cert_file", m.TLS.CertFile)
	v.secretFile("mqtt.tls.key_file", m.TLS.KeyFile)
}

// broker checks the broker URL and reports whether its scheme uses TLS.
func (v *validator) broker(b string) (tlsScheme bool) {
	const path = "mqtt.broker"
	u, err := redact.ParseURL(b)
	switch {
	case err != nil || !slices.Contains(mqttSchemes, u.Scheme) || u.Host == "":
		v.errorf(path, "%s %q is not an MQTT broker URL; use tcp://, mqtt://, ssl://, tls://, mqtts://, ws:// or wss:// followed by host:port", path, redactURL(b))
		return false
	case u.User != nil:
		v.errorf(path, "%s carries credentials in the URL; use mqtt.username and mqtt.password_file instead", path)
	case redact.HasQueryCredentials(b):
		v.errorf(path, "%s %q carries credentials in the URL; use mqtt.username and mqtt.password_file instead", path, redactURL(b))
	case u.Port() == "" && !slices.Contains(mqttWSScheme, u.Scheme):
		v.errorf(path, "%s %q has no port; add one, e.g. %s://%s:1883", path, redactURL(b), u.Scheme, u.Hostname())
	}
	return slices.Contains(mqttTLS, u.Scheme)
}

// topicPrefix enforces what MQTT allows in a topic name, plus two rules
// that catch mistakes: no empty levels and no "$", which brokers reserve.
func (v *validator) topicPrefix(p string) {
	const path = "mqtt.topic_prefix"
	switch {
	case p == "":
		v.errorf(path, `%s is empty; use e.g. "garssl"`, path)
	case len(p) > maxTopicPrefixBytes:
		v.errorf(path, "%s is %d bytes long; use at most %d", path, len(p), maxTopicPrefixBytes)
	case strings.ContainsAny(p, "+#"):
		v.errorf(path, `%s %q contains a wildcard; topics cannot contain "+" or "#"`, path, p)
	case strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/"):
		v.errorf(path, `%s %q must not start or end with "/"`, path, p)
	case strings.Contains(p, "//"):
		v.errorf(path, `%s %q has an empty level ("//")`, path, p)
	case strings.HasPrefix(p, "$"):
		v.errorf(path, `%s %q must not start with "$", which brokers reserve for their own topics`, path, p)
	case strings.ContainsRune(p, 0):
		v.errorf(path, "%s contains a NUL character", path)
	}
}

func (v *validator) http(h HTTP) {
	const path = "http.listen"
	host, port, err := net.SplitHostPort(h.Listen)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil || strings.ContainsAny(host, " /") {
		v.errorf(path, `%s %q is not a host:port address; use e.g. "127.0.0.1:9464" or ":9464"`, path, h.Listen)
		return
	}
	v.intRange("http.view_windows", h.ViewWindows, 1, maxViewWindows)
	v.intRange("http.max_viewers", h.MaxViewers, 1, maxViewers)
	v.file("http.auth_file", h.AuthFile)
	if h.AuthFile != "" && !v.meta.skipsFileChecks() {
		if b, err := os.ReadFile(h.AuthFile); err == nil {
			if _, err := httpauth.Parse(b); err != nil {
				v.errorf("http.auth_file", "http.auth_file %q: %s", h.AuthFile, err)
			}
		}
	}
	if h.AuthMetrics && h.AuthFile == "" {
		v.errorf("http.auth_metrics", "http.auth_metrics = true needs http.auth_file, the users and passwords to ask for")
	}
	if h.View && h.AuthFile == "" && !h.InsecureOpen && !isLoopback(host) {
		v.errorf(path, "%s %q is not a loopback address, and the live view (http.view, on by default) would show the cameras' pictures and sound to anyone on the network; "+
			"set http.auth_file to an htpasswd file (`htpasswd -B -c /etc/garssl/htpasswd operator`), or http.view = false, "+
			"or, to open it on purpose, http.insecure_open = true", path, h.Listen)
	}
}

// Bounds of the live view's settings: the ring holds streams × windows
// pictures and sound in memory.
const (
	maxViewWindows = 500
	maxViewers     = 1000
)

// isLoopback reports whether host (of http.listen) only listens on this
// machine. An empty host listens on every interface; a name other than
// localhost may resolve to anything.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (v *validator) stream(s Stream) {
	p := streamPath(s.Name)
	if len(s.Name) > maxStreamNameBytes {
		// Every other message would repeat the long name.
		v.errorf(p+".name", "stream name %.20q… is %d bytes long; use at most %d", s.Name, len(s.Name), maxStreamNameBytes)
		return
	}
	if !v.topicLevel(p+".name", "stream name", s.Name) {
		// Every other message would repeat the bad name.
		return
	}
	fileChecks := !v.meta.skipsFileChecks()
	if s.Input == "" {
		v.errorf(p+".input", `stream %q has no input; add input = "rtsp://…", a device such as "v4l2:/dev/video0" or a file path`, s.Name)
	} else {
		v.report(p+".input", CheckInput(v.name(p+".input"), s.Input, fileChecks))
	}
	if s.Audio != "" {
		v.report(p+".audio", CheckInput(v.name(p+".audio"), s.Audio, fileChecks))
	}
	if len(s.AudioOptions) > 0 && s.Audio == "" {
		v.errorf(p+".audio_options", "%s.audio_options is set but %s.audio is empty; options for the input's own audio go in options", p, p)
	}
	v.report(p+".window", CheckWindow(v.name(p+".window"), s.Window))
	v.report(p+".hop", CheckHop(v.name(p+".hop"), s.Hop))
	v.atLeast(p+".max_queue", s.MaxQueue, 1)
	v.positiveDuration(p+".stale_after", s.StaleAfter)
	if s.Loop && s.Input != "" && !isFileInput(s.Input) {
		v.errorf(p+".loop", "%s.loop = true works only for file inputs; %q is a network or device source", p, redactURL(s.Input))
	}
	if !s.Realtime && s.Input != "" && !isFileInput(s.Input) {
		v.errorf(p+".realtime", "%s.realtime = false works only for file inputs; %q is a network or device source, which arrives at its own rate", p, redactURL(s.Input))
	}
	v.report(p+".stall_timeout", CheckStallTimeout(v.name(p+".stall_timeout"), s.StallTimeout))
	v.report(p+".skip_frame", CheckSkipFrame(v.name(p+".skip_frame"), s.SkipFrame))
	v.report(p+".skip_frame", CheckFramePickSkip(v.name(p+".skip_frame"), s.FramePick, s.SkipFrame))
	v.report(p+".frame_pick", CheckFramePick(v.name(p+".frame_pick"), s.FramePick))
	v.report(p+".frame_tolerance", CheckFrameTolerance(v.name(p+".frame_tolerance"), s.FrameTolerance))
	v.intRange(p+".decoder_threads", s.DecoderThreads, 0, maxDecoderThreads)
	switch {
	case s.Camera == nil:
	case s.Camera.HFOVDeg == 0:
		v.errorf(p+".camera.hfov_deg", "%s.camera needs hfov_deg, the horizontal field of view in degrees (above 0 and below %d)", p, maxHFOVDeg)
	default:
		v.report(p+".camera.hfov_deg", CheckHFOV(v.name(p+".camera.hfov_deg"), s.Camera.HFOVDeg))
	}
	if s.MicArray != nil {
		v.micArray(p+".mic_array", *s.MicArray)
		v.arrayChannelCount(p, s)
	}
}

// micArray checks a stream's mic_array block at path p.
func (v *validator) micArray(p string, m MicArray) {
	pos := p + ".positions"
	switch n := len(m.Positions); {
	case n < 2:
		v.errorf(pos, "%s needs at least 2 microphones, as positions = [[x, y, z], …] in metres (x forward, y left, z up); it has %d", p, n)
	case n > maxMics:
		v.errorf(pos, "%s has %d microphones; use at most %d", pos, n, maxMics)
	}
	checked := m.Positions
	if len(checked) > maxMics {
		// The pairwise check below grows with the square of the count.
		checked = nil
	}
	for i, q := range checked {
		at := fmt.Sprintf("%s[%d]", pos, i)
		if far := max(math.Abs(q[0]), math.Abs(q[1]), math.Abs(q[2])); !(far <= maxMicOffsetM) {
			v.errorf(at, "%s = %s is out of range; positions are in metres, each coordinate from -%d to %d (32 mm is 0.032)", at, point(q), maxMicOffsetM, maxMicOffsetM)
			continue
		}
		for j := range i {
			if dist(q, m.Positions[j]) < minMicSpacingM {
				v.errorf(at, "%s coincides with %s[%d] (within 1 mm); every microphone needs its own position", at, pos, j)
				break
			}
		}
	}
	ch := p + ".channels"
	if len(m.Channels) != len(m.Positions) {
		v.errorf(ch, "%s lists %d channels for %d positions; give one input channel per position, in the same order", ch, len(m.Channels), len(m.Positions))
	}
	for i, c := range m.Channels {
		at := fmt.Sprintf("%s[%d]", ch, i)
		if c < 0 || c > maxAudioChannel {
			v.errorf(at, "%s = %d is out of range; use an input channel from 0 to %d", at, c, maxAudioChannel)
			continue
		}
		if j := slices.Index(m.Channels[:i], c); j >= 0 {
			v.errorf(at, "%s = %d repeats %s[%d]; each microphone has its own channel", at, c, ch, j)
		}
	}
	if yaw := m.YawOffsetDeg; !(yaw > -180 && yaw <= 180) {
		v.errorf(p+".yaw_offset_deg", "%s = %s is out of range; use a value above -180 and at most 180 degrees (positive right of the optical axis)", v.name(p+".yaw_offset_deg"), formatFloat(yaw))
	}
	v.floatRange(p+".pitch_offset_deg", m.PitchOffsetDeg, -90, 90)
	if tol := m.ToleranceDeg; !(tol > 0 && tol <= 180) {
		v.errorf(p+".tolerance_deg", "%s = %s is out of range; use a value above 0 and at most 180 degrees", v.name(p+".tolerance_deg"), formatFloat(tol))
	}
	v.intRange(p+".max_sources", m.MaxSources, 1, maxDoASources)
}

// arrayChannelCount refuses array channels beyond the count the options
// open the sound input with (FFmpeg's "channels" option, for devices).
func (v *validator) arrayChannelCount(p string, s Stream) {
	opts, which := s.Options, "options"
	if s.Audio != "" {
		opts, which = s.AudioOptions, "audio_options"
	}
	set, ok := opts["channels"]
	n, err := strconv.Atoi(set)
	if !ok || err != nil || n <= 0 {
		return
	}
	for i, c := range s.MicArray.Channels {
		if c >= n && c <= maxAudioChannel {
			at := fmt.Sprintf("%s.mic_array.channels[%d]", p, i)
			v.errorf(at, "%s = %d is beyond the %d channels %s.%s opens the input with; use 0 to %d, or open more channels", at, c, n, p, which, n-1)
		}
	}
}

func dist(a, b [3]float64) float64 {
	return math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
}

// tracking checks a tracking block at path; the ranges are the tracker's
// own (track.Config.Validate), checked here to name the attribute.
func (v *validator) tracking(p string, t Tracking) {
	v.atLeast(p+".confirm_hits", t.ConfirmHits, 1)
	v.positiveDuration(p+".end_after", t.EndAfter)
	if t.LostAfter < t.EndAfter || t.LostAfter <= 0 {
		v.errorf(p+".lost_after", "%s = %s must be positive and at least end_after (%s)", v.name(p+".lost_after"), t.LostAfter, t.EndAfter)
	}
	if t.Heartbeat < 0 {
		v.errorf(p+".heartbeat", "%s = %s must be 0s (off) or positive", v.name(p+".heartbeat"), t.Heartbeat)
	}
	if !(t.UpdateBearingDeg > 0 && t.UpdateBearingDeg <= 180) {
		v.errorf(p+".update_bearing_deg", "%s = %s is out of range; use a value above 0 and at most 180", v.name(p+".update_bearing_deg"), formatFloat(t.UpdateBearingDeg))
	}
	if !(t.UpdateCentreFrac > 0 && t.UpdateCentreFrac <= 1) {
		v.errorf(p+".update_centre_frac", "%s = %s is out of range; use a value above 0 and at most 1", v.name(p+".update_centre_frac"), formatFloat(t.UpdateCentreFrac))
	}
	v.intRange(p+".max_tracks", t.MaxTracks, 1, track.MaxTracksLimit)
}

// topicLevel checks a name used as one MQTT topic level and as a metric
// label value, and reports whether it is valid.
func (v *validator) topicLevel(path, what, s string) bool {
	if isTopicLevel(s) {
		return true
	}
	v.errorf(path, `%s %q is not a valid MQTT topic level; use letters, digits, "_" and "-"`, what, s)
	return false
}

func isTopicLevel(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !isTopicLevelRune(r) {
			return false
		}
	}
	return true
}

func isTopicLevelRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
}

func (v *validator) positiveDuration(path string, d time.Duration) {
	v.report(path, checkPositiveDuration(v.name(path), d))
}

func (v *validator) atLeast(path string, n, lo int) {
	if n < lo {
		v.errorf(path, "%s = %d must be at least %d", v.name(path), n, lo)
	}
}

func (v *validator) intRange(path string, n, lo, hi int) {
	if n < lo || n > hi {
		v.errorf(path, "%s = %d is out of range; use %d to %d", v.name(path), n, lo, hi)
	}
}

func (v *validator) floatRange(path string, f, lo, hi float64) {
	v.report(path, checkFloatRange(v.name(path), f, lo, hi))
}

func oneOfList[S ~string](valid []S) string {
	quoted := make([]string, len(valid))
	for i, s := range valid {
		quoted[i] = strconv.Quote(string(s))
	}
	return strings.Join(quoted, ", ")
}

// oneOf checks an enumerated value against its valid spellings.
func oneOf[S ~string](v *validator, path string, got S, valid []S) {
	v.report(path, checkOneOf(v.name(path), got, valid))
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
