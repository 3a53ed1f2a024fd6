package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
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
	maxHFOVDeg        = 180
	sampleDuration    = time.Second / 16000 // 62.5µs, one sample at 16 kHz
	// paho starts reconnecting after 1s; beyond paho's own default of 10m
	// a robot back in range waits for nothing.
	minReconnectInterval = time.Second
	maxReconnectInterval = 10 * time.Minute
)

var (
	logLevels    = []string{"trace", "debug", "info", "warn", "error"}
	logFormats   = []LogFormat{LogFormatAuto, LogFormatJSON, LogFormatText}
	schedules    = []Schedule{ScheduleParallel, ScheduleSequential}
	skipFrames   = []SkipFrame{SkipFrameNone, SkipFrameNonRef, SkipFrameNonKey}
	mqttSchemes  = []string{"tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss"}
	mqttTLS      = []string{"ssl", "tls", "mqtts", "wss"}
	mqttWSScheme = []string{"ws", "wss"}
)

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
	v.diags = append(v.diags, d)
}

// validate checks everything; requireStreams adds the check that `run`
// needs and `locate` does not.
func (c *Config) validate(requireStreams bool) Diagnostics {
	v := &validator{meta: c.meta}
	v.topicLevel("node_id", "node_id", c.NodeID)
	v.log(c.Log)
	v.mllm(c.MLLM)
	v.gar(c.GAR)
	v.mqtt(c.MQTT)
	v.http(c.HTTP)
	for _, s := range c.Streams {
		v.stream(s)
	}
	if requireStreams && len(c.Streams) == 0 {
		v.errorf("", `no stream blocks; run needs at least one, e.g. stream "front" { input = "rtsp://cam.local/stream1" }`)
	}
	return v.diags
}

func (v *validator) log(l Log) {
	oneOf(v, "log.level", l.Level, logLevels)
	oneOf(v, "log.format", l.Format, logFormats)
}

func (v *validator) mllm(m MLLM) {
	if len(m.Endpoints) == 0 {
		v.errorf("mllm.endpoints", `mllm.endpoints is empty; give at least one, e.g. ["http://127.0.0.1:8000/v1"]`)
	}
	for i, e := range m.Endpoints {
		path := fmt.Sprintf("mllm.endpoints[%d]", i)
		v.endpoint(path, e)
		if j := slices.Index(m.Endpoints[:i], e); j >= 0 {
			v.errorf(path, "%s %q repeats mllm.endpoints[%d]", path, redactURL(e), j)
		}
	}
	if m.Model == "" {
		v.errorf("mllm.model", `mllm.model is empty; name the served model, e.g. "Qwen/Qwen2.5-Omni-7B"`)
	}
	v.secretFile("mllm.api_key_file", m.APIKeyFile)
	v.positiveDuration("mllm.timeout", m.Timeout)
	v.atLeast("mllm.max_in_flight", m.MaxInFlight, 1)
	oneOf(v, "mllm.schedule", m.Schedule, schedules)
	v.atLeast("mllm.breaker.consecutive_failures", m.Breaker.ConsecutiveFailures, 1)
	v.positiveDuration("mllm.breaker.open_for", m.Breaker.OpenFor)
	v.positiveDuration("mllm.window_deadline", m.WindowDeadline)
}

func (v *validator) endpoint(path, e string) {
	u, err := url.Parse(e)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.errorf(path, "%s %q is not an http(s) URL", path, redactURL(e))
	case u.User != nil:
		v.errorf(path, "%s carries credentials in the URL; put the key in mllm.api_key_file instead", path)
	case u.RawQuery != "" || u.Fragment != "":
		v.errorf(path, "%s %q has a query or fragment; give the base URL that /chat/completions is appended to", path, e)
	}
}

func (v *validator) gar(g GAR) {
	v.intRange("gar.analysis_trials", g.AnalysisTrials, 1, maxAnalysisTrials)
	v.floatRange("gar.tau_av", g.TauAV, 0, 1)
	v.floatRange("gar.tau_audio", g.TauAudio, 0, 1)
	v.intRange("gar.max_sources", g.MaxSources, 1, maxSources)
	v.modelSize(g.ModelSize)
	v.floatRange("gar.silence_dbfs", g.SilenceDBFS, minSilenceDBFS, 0)
	v.floatRange("gar.temperature", g.Temperature, 0, maxTemperature)
	if !(g.TopP > 0 && g.TopP <= 1) {
		v.errorf("gar.top_p", "gar.top_p = %s is out of range; use a value above 0 and at most 1", formatFloat(g.TopP))
	}
}

// modelSize suggests the nearest valid sizes, because the usual mistake is
// a camera-ish size such as 230 or 640.
func (v *validator) modelSize(n int) {
	const path = "gar.model_size"
	if n < minModelSize || n > maxModelSize {
		v.errorf(path, "%s = %d is out of range; use a multiple of %d from %d to %d", path, n, modelSizeStep, minModelSize, maxModelSize)
		return
	}
	if n%modelSizeStep == 0 {
		return
	}
	var near []string
	for m := n / modelSizeStep * modelSizeStep; len(near) < 3 && m <= maxModelSize; m += modelSizeStep {
		if m >= minModelSize {
			near = append(near, strconv.Itoa(m))
		}
	}
	v.errorf(path, "%s = %d is not a multiple of %d; use %s, …", path, n, modelSizeStep, strings.Join(near, ", "))
}

func (v *validator) mqtt(m MQTT) {
	tlsScheme := v.broker(m.Broker)
	v.intRange("mqtt.qos", m.QoS, 0, 2)
	v.topicPrefix(m.TopicPrefix)
	if m.StoreDir == "" {
		v.errorf("mqtt.store_dir", "mqtt.store_dir is empty; give a writable directory for messages not yet acknowledged")
	}
	v.atLeast("mqtt.max_pending", m.MaxPending, 1)
	v.secretFile("mqtt.password_file", m.PasswordFile)
	if m.PasswordFile != "" && m.Username == "" {
		v.errorf("mqtt.password_file", "mqtt.password_file is set but mqtt.username is empty; MQTT sends a password only with a user name")
	}
	if m.ClientID == "" {
		v.errorf("mqtt.client_id", "mqtt.client_id is empty; leave it out to use garssld-<node_id>")
	}
	if d := m.MaxReconnectInterval; d < minReconnectInterval || d > maxReconnectInterval {
		v.errorf("mqtt.max_reconnect_interval", "mqtt.max_reconnect_interval = %s is out of range; use 1s to 10m", d)
	}
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
	u, err := url.Parse(b)
	switch {
	case err != nil || !slices.Contains(mqttSchemes, u.Scheme) || u.Host == "":
		v.errorf(path, "%s %q is not an MQTT broker URL; use tcp://, mqtt://, ssl://, tls://, mqtts://, ws:// or wss:// followed by host:port", path, redactURL(b))
		return false
	case u.User != nil:
		v.errorf(path, "%s carries credentials in the URL; use mqtt.username and mqtt.password_file instead", path)
	case u.Port() == "" && !slices.Contains(mqttWSScheme, u.Scheme):
		v.errorf(path, "%s %q has no port; add one, e.g. %s://%s:1883", path, b, u.Scheme, u.Hostname())
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
	}
}

func (v *validator) stream(s Stream) {
	p := streamPath(s.Name)
	if !v.topicLevel(p+".name", "stream name", s.Name) {
		// Every other message would repeat the bad name.
		return
	}
	if s.Input == "" {
		v.errorf(p+".input", `stream %q has no input; add input = "rtsp://…", a device such as "v4l2:/dev/video0" or a file path`, s.Name)
	}
	if len(s.AudioOptions) > 0 && s.Audio == "" {
		v.errorf(p+".audio_options", "%s.audio_options is set but %s.audio is empty; options for the input's own audio go in options", p, p)
	}
	v.window(p+".window", s.Window)
	v.sampleAligned(p+".hop", s.Hop)
	v.atLeast(p+".max_queue", s.MaxQueue, 1)
	v.positiveDuration(p+".stale_after", s.StaleAfter)
	if s.Loop && s.Input != "" && !isFileInput(s.Input) {
		v.errorf(p+".loop", "%s.loop = true works only for file inputs; %q is a network or device source", p, redactURL(s.Input))
	}
	v.positiveDuration(p+".stall_timeout", s.StallTimeout)
	oneOf(v, p+".skip_frame", s.SkipFrame, skipFrames)
	switch {
	case s.Camera == nil:
	case s.Camera.HFOVDeg == 0:
		v.errorf(p+".camera.hfov_deg", "%s.camera needs hfov_deg, the horizontal field of view in degrees (above 0 and below %d)", p, maxHFOVDeg)
	case !(s.Camera.HFOVDeg > 0 && s.Camera.HFOVDeg < maxHFOVDeg):
		v.errorf(p+".camera.hfov_deg", "%s.camera.hfov_deg = %s is out of range; use a value above 0 and below %d degrees", p, formatFloat(s.Camera.HFOVDeg), maxHFOVDeg)
	}
}

func (v *validator) window(path string, d time.Duration) {
	if d > maxWindow {
		v.errorf(path, "%s = %s is too long; use at most %s", path, d, maxWindow)
		return
	}
	v.sampleAligned(path, d)
}

// sampleAligned requires a positive whole number of 16 kHz samples, so
// that every window holds exactly window×16000 samples and windows start
// on sample boundaries.
func (v *validator) sampleAligned(path string, d time.Duration) {
	switch {
	case d <= 0:
		v.errorf(path, "%s = %s must be greater than 0", path, d)
	case d%sampleDuration != 0:
		v.errorf(path, "%s = %s is not a whole number of 16 kHz samples; use a multiple of %s, e.g. %s", path, d, sampleDuration, max(d.Round(sampleDuration), sampleDuration))
	}
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
	if d <= 0 {
		v.errorf(path, "%s = %s must be greater than 0", path, d)
	}
}

func (v *validator) atLeast(path string, n, lo int) {
	if n < lo {
		v.errorf(path, "%s = %d must be at least %d", path, n, lo)
	}
}

func (v *validator) intRange(path string, n, lo, hi int) {
	if n < lo || n > hi {
		v.errorf(path, "%s = %d is out of range; use %d to %d", path, n, lo, hi)
	}
}

func (v *validator) floatRange(path string, f, lo, hi float64) {
	if !(f >= lo && f <= hi) {
		v.errorf(path, "%s = %s is out of range; use %s to %s", path, formatFloat(f), formatFloat(lo), formatFloat(hi))
	}
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
	if !slices.Contains(valid, got) {
		v.errorf(path, "%s %q is not one of %s", path, string(got), oneOfList(valid))
	}
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
