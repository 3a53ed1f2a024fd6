package config

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// String renders the effective configuration as HCL that Parse accepts,
// with every default spelled out. Passwords in URLs and the values of
// FFmpeg options that look like credentials are replaced by "xxxxx";
// secret files are shown by path only.
func (c Config) String() string {
	w := &hclWriter{}
	w.attr("node_id", quote(c.NodeID))
	w.attr("shutdown_timeout", duration(c.ShutdownTimeout))

	w.open("log")
	w.attr("level", quote(c.Log.Level))
	w.attr("format", quote(string(c.Log.Format)))
	w.close()

	w.open("mllm")
	endpoints := make([]string, len(c.MLLM.Endpoints))
	for i, e := range c.MLLM.Endpoints {
		endpoints[i] = quote(redactURL(e))
	}
	w.attr("endpoints", "["+strings.Join(endpoints, ", ")+"]")
	w.attr("model", quote(c.MLLM.Model))
	w.attr("api_key_file", quote(c.MLLM.APIKeyFile))
	w.attr("timeout", duration(c.MLLM.Timeout))
	w.attr("max_in_flight", strconv.Itoa(c.MLLM.MaxInFlight))
	w.attr("supports_n", strconv.FormatBool(c.MLLM.SupportsN))
	w.attr("structured_output", strconv.FormatBool(c.MLLM.StructuredOutput))
	w.attr("schedule", quote(string(c.MLLM.Schedule)))
	w.attr("window_deadline", duration(c.MLLM.WindowDeadline))
	w.open("breaker")
	w.attr("consecutive_failures", strconv.Itoa(c.MLLM.Breaker.ConsecutiveFailures))
	w.attr("open_min", duration(c.MLLM.Breaker.OpenMin))
	w.attr("open_for", duration(c.MLLM.Breaker.OpenFor))
	w.close()
	w.close()

	w.open("gar")
	w.attr("analysis_trials", strconv.Itoa(c.GAR.AnalysisTrials))
	w.attr("tau_av", number(c.GAR.TauAV))
	w.attr("tau_audio", number(c.GAR.TauAudio))
	w.attr("max_sources", strconv.Itoa(c.GAR.MaxSources))
	w.attr("model_size", strconv.Itoa(c.GAR.ModelSize))
	w.attr("silence_dbfs", number(c.GAR.SilenceDBFS))
	w.attr("temperature", number(c.GAR.Temperature))
	w.attr("top_p", number(c.GAR.TopP))
	w.attr("keep_raw", strconv.FormatBool(c.GAR.KeepRaw))
	w.close()

	w.open("mqtt")
	w.attr("broker", quote(redactURL(c.MQTT.Broker)))
	w.attr("qos", strconv.Itoa(c.MQTT.QoS))
	w.attr("topic_prefix", quote(c.MQTT.TopicPrefix))
	w.attr("store_dir", quote(c.MQTT.StoreDir))
	w.attr("max_pending", strconv.Itoa(c.MQTT.MaxPending))
	w.attr("max_age", duration(c.MQTT.MaxAge))
	w.attr("username", quote(c.MQTT.Username))
	w.attr("password_file", quote(c.MQTT.PasswordFile))
	w.attr("client_id", quote(c.MQTT.ClientID))
	w.attr("max_reconnect_interval", duration(c.MQTT.MaxReconnectInterval))
	w.attr("verify_delivery", strconv.FormatBool(c.MQTT.VerifyDelivery))
	w.attr("confirm_within", duration(c.MQTT.ConfirmWithin))
	w.attr("max_message_bytes", strconv.Itoa(c.MQTT.MaxMessageBytes))
	if t := c.MQTT.TLS; t != nil {
		w.open("tls")
		w.attr("ca_file", quote(t.CAFile))
		w.attr("cert_file", quote(t.CertFile))
		w.attr("key_file", quote(t.KeyFile))
		w.close()
	}
	w.close()

	w.open("http")
	w.attr("listen", quote(c.HTTP.Listen))
	w.attr("view", strconv.FormatBool(c.HTTP.View))
	w.attr("view_windows", strconv.Itoa(c.HTTP.ViewWindows))
	w.attr("max_viewers", strconv.Itoa(c.HTTP.MaxViewers))
	w.attr("auth_file", quote(c.HTTP.AuthFile))
	w.attr("auth_metrics", strconv.FormatBool(c.HTTP.AuthMetrics))
	w.attr("insecure_open", strconv.FormatBool(c.HTTP.InsecureOpen))
	w.close()

	writeTracking(w, c.Tracking)

	for _, s := range c.Streams {
		w.open("stream", s.Name)
		w.attr("input", quote(redactURL(s.Input)))
		w.attr("audio", quote(redactURL(s.Audio)))
		w.attr("options", options(s.Options))
		w.attr("audio_options", options(s.AudioOptions))
		w.attr("window", duration(s.Window))
		w.attr("hop", duration(s.Hop))
		w.attr("max_queue", strconv.Itoa(s.MaxQueue))
		w.attr("stale_after", duration(s.StaleAfter))
		w.attr("loop", strconv.FormatBool(s.Loop))
		w.attr("realtime", strconv.FormatBool(s.Realtime))
		w.attr("enabled", strconv.FormatBool(s.Enabled))
		w.attr("stall_timeout", duration(s.StallTimeout))
		w.attr("skip_frame", quote(string(s.SkipFrame)))
		w.attr("decoder_threads", strconv.Itoa(s.DecoderThreads))
		w.attr("frame_pick", quote(string(s.FramePick)))
		w.attr("frame_tolerance", duration(s.FrameTolerance))
		if s.Camera != nil {
			w.open("camera")
			w.attr("hfov_deg", number(s.Camera.HFOVDeg))
			w.close()
		}
		if m := s.MicArray; m != nil {
			w.open("mic_array")
			w.attr("positions", positions(m.Positions))
			w.attr("channels", ints(m.Channels))
			w.attr("yaw_offset_deg", number(m.YawOffsetDeg))
			w.attr("pitch_offset_deg", number(m.PitchOffsetDeg))
			w.attr("tolerance_deg", number(m.ToleranceDeg))
			w.attr("hint", strconv.FormatBool(m.Hint))
			w.attr("max_sources", strconv.Itoa(m.MaxSources))
			w.close()
		}
		if s.Tracking != nil {
			writeTracking(w, *s.Tracking)
		}
		w.close()
	}
	return w.b.String()
}

func writeTracking(w *hclWriter, t Tracking) {
	w.open("tracking")
	w.attr("enabled", strconv.FormatBool(t.Enabled))
	w.attr("confirm_hits", strconv.Itoa(t.ConfirmHits))
	w.attr("end_after", duration(t.EndAfter))
	w.attr("lost_after", duration(t.LostAfter))
	w.attr("heartbeat", duration(t.Heartbeat))
	w.attr("update_bearing_deg", number(t.UpdateBearingDeg))
	w.attr("update_centre_frac", number(t.UpdateCentreFrac))
	w.attr("max_tracks", strconv.Itoa(t.MaxTracks))
	w.close()
}

// hclWriter writes HCL native syntax with two-space indentation. hclwrite
// would do, but it pulls in a module this repository does not vendor.
type hclWriter struct {
	b     strings.Builder
	depth int
}

func (w *hclWriter) line(s string) {
	w.b.WriteString(strings.Repeat("  ", w.depth))
	w.b.WriteString(s)
	w.b.WriteByte('\n')
}

func (w *hclWriter) attr(name, value string) { w.line(name + " = " + value) }

func (w *hclWriter) open(typ string, labels ...string) {
	head := typ
	for _, l := range labels {
		head += " " + quote(l)
	}
	w.line(head + " {")
	w.depth++
}

func (w *hclWriter) close() {
	w.depth--
	w.line("}")
}

// quote writes s as an HCL quoted string. Besides the usual escapes it
// doubles the "$" of "${" and the "%" of "%{", which would otherwise start
// a template interpolation or directive.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04x`, r)
		case (r == '$' || r == '%') && strings.HasPrefix(s[i+1:], "{"):
			b.WriteRune(r)
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// number writes a float as an HCL number. NaN and infinities, which only a
// Config built in code can hold, are written as strings so that Parse
// rejects them instead of misreading them.
func number(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return quote(formatFloat(f))
	}
	return formatFloat(f)
}

// positions writes [x, y, z] points as an HCL list of lists.
func positions(ps [][3]float64) string {
	items := make([]string, len(ps))
	for i, p := range ps {
		items[i] = point(p)
	}
	return "[" + strings.Join(items, ", ") + "]"
}

func point(p [3]float64) string {
	return "[" + number(p[0]) + ", " + number(p[1]) + ", " + number(p[2]) + "]"
}

func ints(ns []int) string {
	items := make([]string, len(ns))
	for i, n := range ns {
		items[i] = strconv.Itoa(n)
	}
	return "[" + strings.Join(items, ", ") + "]"
}

func duration(d time.Duration) string { return quote(d.String()) }

// options writes an FFmpeg option map with sorted, quoted keys.
func options(opts map[string]string) string {
	if len(opts) == 0 {
		return "{}"
	}
	var b strings.Builder
	b.WriteString("{ ")
	for i, k := range slices.Sorted(maps.Keys(opts)) {
		if i > 0 {
			b.WriteString(", ")
		}
		v := opts[k]
		if isSensitiveOption(k) {
			v = redacted
		}
		b.WriteString(quote(k) + " = " + quote(v))
	}
	b.WriteString(" }")
	return b.String()
}
