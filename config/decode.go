package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// decoder walks the native-syntax tree of a config file, storing values
// into a Config that starts from Default and recording each value's range.
// It walks hclsyntax directly rather than using gohcl's struct decoding so
// that absent attributes keep their defaults and every diagnostic can name
// the config path and list what is valid.
type decoder struct {
	diags   Diagnostics
	origin  map[string]hcl.Range
	streams map[string]hcl.Range // stream name → its label, for duplicates
	// skipFileChecks mirrors the SkipFileChecks option for fileAttr.
	skipFileChecks bool
	// streamTracking holds the streams' own tracking blocks, decoded after
	// the file so that they start from the top-level block wherever it is
	// written.
	streamTracking []pendingTracking
}

type pendingTracking struct {
	stream int // index in Config.Streams
	path   string
	block  *hclsyntax.Block
}

// attrSpec binds an attribute name to the code that converts and stores
// its value.
type attrSpec struct {
	name string
	set  func(d *decoder, path string, expr hcl.Expression)
}

// blockSpec binds a nested block type to its decoder.
type blockSpec struct {
	name string
	// label names the block's single label ("name" for stream); empty for
	// blocks that take none.
	label string
	// repeat allows the block more than once.
	repeat bool
	decode func(d *decoder, path string, b *hclsyntax.Block)
}

func (d *decoder) add(diag Diagnostic) { d.diags = append(d.diags, diag) }

// body decodes one block body (or the file's root body). where describes
// the body in messages ("at top level", `in stream "front"`).
func (d *decoder) body(path, where string, b *hclsyntax.Body, attrs []attrSpec, blocks []blockSpec) {
	for _, a := range attributesInOrder(b.Attributes) {
		spec := findSpec(attrs, a.Name, func(s attrSpec) string { return s.name })
		if spec == nil {
			d.unknownAttribute(path, where, a, attrs, blocks)
			continue
		}
		spec.set(d, joinPath(path, a.Name), a.Expr)
	}

	seen := make(map[string]hcl.Range)
	for _, blk := range b.Blocks {
		spec := findSpec(blocks, blk.Type, func(s blockSpec) string { return s.name })
		if spec == nil {
			d.unknownBlock(path, where, blk, attrs, blocks)
			continue
		}
		if !d.labelsOK(spec, blk) {
			continue
		}
		if !spec.repeat {
			if first, dup := seen[blk.Type]; dup {
				d.add(diagAt(blk.TypeRange, "duplicate %s block; the first is at %s", joinPath(path, blk.Type), posString(first)))
				continue
			}
			seen[blk.Type] = blk.TypeRange
		}
		spec.decode(d, joinPath(path, blk.Type), blk)
	}
}

func (d *decoder) unknownAttribute(path, where string, a *hclsyntax.Attribute, attrs []attrSpec, blocks []blockSpec) {
	if findSpec(blocks, a.Name, func(s blockSpec) string { return s.name }) != nil {
		d.add(diagAt(a.NameRange, "%s is a block, not an attribute; write %s { … } without \"=\"", joinPath(path, a.Name), a.Name))
		return
	}
	names := specNames(attrs, func(s attrSpec) string { return s.name })
	d.add(diagAt(a.NameRange, "unknown attribute %q %s; valid: %s%s", a.Name, where, strings.Join(names, ", "), didYouMean(a.Name, names)))
}

func (d *decoder) unknownBlock(path, where string, blk *hclsyntax.Block, attrs []attrSpec, blocks []blockSpec) {
	if findSpec(attrs, blk.Type, func(s attrSpec) string { return s.name }) != nil {
		d.add(diagAt(blk.TypeRange, "%s is an attribute, not a block; write %s = …", joinPath(path, blk.Type), blk.Type))
		return
	}
	names := specNames(blocks, func(s blockSpec) string { return s.name })
	if len(names) == 0 {
		d.add(diagAt(blk.TypeRange, "unknown block %q %s; no blocks are valid here", blk.Type, where))
		return
	}
	d.add(diagAt(blk.TypeRange, "unknown block %q %s; valid: %s%s", blk.Type, where, strings.Join(names, ", "), didYouMean(blk.Type, names)))
}

func (d *decoder) labelsOK(spec *blockSpec, blk *hclsyntax.Block) bool {
	switch {
	case spec.label == "" && len(blk.Labels) > 0:
		d.add(diagAt(blk.LabelRanges[0], "%s block takes no label; write %s { … }", blk.Type, blk.Type))
		return false
	case spec.label != "" && len(blk.Labels) != 1:
		r := blk.TypeRange
		if len(blk.Labels) > 1 {
			r = blk.LabelRanges[1]
		}
		d.add(diagAt(r, "%s block takes exactly one label, its %s, e.g. %s \"front\" { … }", blk.Type, spec.label, blk.Type))
		return false
	}
	return true
}

// decodeRoot decodes the whole file into c, which holds the defaults.
func (d *decoder) decodeRoot(b *hclsyntax.Body, c *Config) {
	d.body("", "at top level", b,
		[]attrSpec{stringAttr("node_id", &c.NodeID), durationAttr("shutdown_timeout", &c.ShutdownTimeout)},
		[]blockSpec{
			{name: "log", decode: plainBlock(logSpec(&c.Log), nil)},
			{name: "mllm", decode: plainBlock(mllmSpec(&c.MLLM), []blockSpec{
				{name: "breaker", decode: plainBlock(breakerSpec(&c.MLLM.Breaker), nil)},
			})},
			{name: "gar", decode: plainBlock(garSpec(&c.GAR), nil)},
			{name: "mqtt", decode: plainBlock(mqttSpec(&c.MQTT), []blockSpec{
				{name: "tls", decode: func(d *decoder, path string, b *hclsyntax.Block) {
					c.MQTT.TLS = &TLS{}
					plainBlock(tlsSpec(c.MQTT.TLS), nil)(d, path, b)
				}},
			})},
			{name: "http", decode: plainBlock(httpSpec(&c.HTTP), nil)},
			{name: "tracking", decode: plainBlock(trackingSpec(&c.Tracking), nil)},
			{name: "stream", label: "name", repeat: true, decode: func(d *decoder, _ string, b *hclsyntax.Block) {
				if s, ok := d.decodeStream(b, len(c.Streams)); ok {
					c.Streams = append(c.Streams, s)
				}
			}},
		})
	for _, p := range d.streamTracking {
		t := c.Tracking
		c.Streams[p.stream].Tracking = &t
		plainBlock(trackingSpec(&t), nil)(d, p.path, p.block)
	}
}

func trackingSpec(t *Tracking) []attrSpec {
	return []attrSpec{
		boolAttr("enabled", &t.Enabled),
		intAttr("confirm_hits", &t.ConfirmHits),
		durationAttr("end_after", &t.EndAfter),
		durationAttr("lost_after", &t.LostAfter),
		durationAttr("heartbeat", &t.Heartbeat),
		floatAttr("update_bearing_deg", &t.UpdateBearingDeg),
		floatAttr("update_centre_frac", &t.UpdateCentreFrac),
		intAttr("max_tracks", &t.MaxTracks),
	}
}

// plainBlock returns a decoder for an unlabelled block with the given
// attributes and nested blocks.
func plainBlock(attrs []attrSpec, blocks []blockSpec) func(*decoder, string, *hclsyntax.Block) {
	return func(d *decoder, path string, b *hclsyntax.Block) {
		d.origin[path] = b.TypeRange
		d.body(path, "in "+path, b.Body, attrs, blocks)
	}
}

func (d *decoder) decodeStream(b *hclsyntax.Block, index int) (Stream, bool) {
	name := b.Labels[0]
	if first, dup := d.streams[name]; dup {
		d.add(diagAt(b.LabelRanges[0], "duplicate stream %q; the first is at %s", name, posString(first)))
		return Stream{}, false
	}
	d.streams[name] = b.TypeRange

	s := DefaultStream()
	s.Name = name
	path := streamPath(name)
	d.origin[path] = b.TypeRange
	d.origin[path+".name"] = b.LabelRanges[0]
	where := fmt.Sprintf("in stream %q", name)
	d.body(path, where, b.Body, streamSpec(&s), []blockSpec{
		{name: "camera", decode: func(d *decoder, path string, cb *hclsyntax.Block) {
			s.Camera = &Camera{}
			d.origin[path] = cb.TypeRange
			d.body(path, "in the camera block of stream "+fmt.Sprintf("%q", name), cb.Body,
				[]attrSpec{floatAttr("hfov_deg", &s.Camera.HFOVDeg)}, nil)
		}},
		{name: "mic_array", decode: func(d *decoder, path string, mb *hclsyntax.Block) {
			m := DefaultMicArray()
			s.MicArray = &m
			d.origin[path] = mb.TypeRange
			d.body(path, "in the mic_array block of stream "+fmt.Sprintf("%q", name), mb.Body, micArraySpec(&m), nil)
			if m.Channels == nil {
				// The first channels, in order: a device that carries only
				// the microphones.
				for i := range m.Positions {
					m.Channels = append(m.Channels, i)
				}
			}
		}},
		{name: "tracking", decode: func(d *decoder, path string, tb *hclsyntax.Block) {
			d.streamTracking = append(d.streamTracking, pendingTracking{stream: index, path: path, block: tb})
		}},
	})
	return s, true
}

func micArraySpec(m *MicArray) []attrSpec {
	return []attrSpec{
		positionsAttr("positions", &m.Positions),
		intListAttr("channels", &m.Channels),
		floatAttr("yaw_offset_deg", &m.YawOffsetDeg),
		floatAttr("pitch_offset_deg", &m.PitchOffsetDeg),
		floatAttr("tolerance_deg", &m.ToleranceDeg),
		boolAttr("hint", &m.Hint),
		intAttr("max_sources", &m.MaxSources),
	}
}

func logSpec(l *Log) []attrSpec {
	return []attrSpec{
		stringAttr("level", &l.Level),
		stringAttr("format", &l.Format),
	}
}

func mllmSpec(m *MLLM) []attrSpec {
	return []attrSpec{
		stringListAttr("endpoints", &m.Endpoints),
		stringAttr("model", &m.Model),
		fileAttr("api_key_file", &m.APIKeyFile),
		durationAttr("timeout", &m.Timeout),
		intAttr("max_in_flight", &m.MaxInFlight),
		boolAttr("supports_n", &m.SupportsN),
		boolAttr("structured_output", &m.StructuredOutput),
		stringAttr("schedule", &m.Schedule),
		durationAttr("window_deadline", &m.WindowDeadline),
	}
}

func breakerSpec(b *Breaker) []attrSpec {
	return []attrSpec{
		intAttr("consecutive_failures", &b.ConsecutiveFailures),
		durationAttr("open_min", &b.OpenMin),
		durationAttr("open_for", &b.OpenFor),
	}
}

func garSpec(g *GAR) []attrSpec {
	return []attrSpec{
		intAttr("analysis_trials", &g.AnalysisTrials),
		floatAttr("tau_av", &g.TauAV),
		floatAttr("tau_audio", &g.TauAudio),
		intAttr("max_sources", &g.MaxSources),
		intAttr("model_size", &g.ModelSize),
		floatAttr("silence_dbfs", &g.SilenceDBFS),
		floatAttr("temperature", &g.Temperature),
		floatAttr("top_p", &g.TopP),
		boolAttr("keep_raw", &g.KeepRaw),
	}
}

func mqttSpec(m *MQTT) []attrSpec {
	return []attrSpec{
		stringAttr("broker", &m.Broker),
		intAttr("qos", &m.QoS),
		stringAttr("topic_prefix", &m.TopicPrefix),
		stringAttr("store_dir", &m.StoreDir),
		intAttr("max_pending", &m.MaxPending),
		durationAttr("max_age", &m.MaxAge),
		stringAttr("username", &m.Username),
		fileAttr("password_file", &m.PasswordFile),
		stringAttr("client_id", &m.ClientID),
		durationAttr("max_reconnect_interval", &m.MaxReconnectInterval),
		boolAttr("verify_delivery", &m.VerifyDelivery),
		durationAttr("confirm_within", &m.ConfirmWithin),
		intAttr("max_message_bytes", &m.MaxMessageBytes),
	}
}

func tlsSpec(t *TLS) []attrSpec {
	return []attrSpec{
		fileAttr("ca_file", &t.CAFile),
		fileAttr("cert_file", &t.CertFile),
		fileAttr("key_file", &t.KeyFile),
	}
}

func httpSpec(h *HTTP) []attrSpec {
	return []attrSpec{
		stringAttr("listen", &h.Listen),
		boolAttr("view", &h.View),
		intAttr("view_windows", &h.ViewWindows),
		intAttr("max_viewers", &h.MaxViewers),
		fileAttr("auth_file", &h.AuthFile),
		boolAttr("auth_metrics", &h.AuthMetrics),
		boolAttr("insecure_open", &h.InsecureOpen),
	}
}

func streamSpec(s *Stream) []attrSpec {
	return []attrSpec{
		stringAttr("input", &s.Input),
		stringAttr("audio", &s.Audio),
		stringMapAttr("options", &s.Options),
		stringMapAttr("audio_options", &s.AudioOptions),
		durationAttr("window", &s.Window),
		durationAttr("hop", &s.Hop),
		intAttr("max_queue", &s.MaxQueue),
		durationAttr("stale_after", &s.StaleAfter),
		boolAttr("loop", &s.Loop),
		boolAttr("realtime", &s.Realtime),
		boolAttr("enabled", &s.Enabled),
		durationAttr("stall_timeout", &s.StallTimeout),
		stringAttr("skip_frame", &s.SkipFrame),
		intAttr("decoder_threads", &s.DecoderThreads),
		stringAttr("frame_pick", &s.FramePick),
		durationAttr("frame_tolerance", &s.FrameTolerance),
	}
}

// streamPath is the config path of a stream, the prefix of its fields'
// paths in messages.
func streamPath(name string) string { return "stream." + name }

func joinPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// posString renders the start of r as "file:line:col".
func posString(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// attributesInOrder returns a body's attributes in source order; the
// parser keeps them in a map.
func attributesInOrder(attrs hclsyntax.Attributes) []*hclsyntax.Attribute {
	list := make([]*hclsyntax.Attribute, 0, len(attrs))
	for _, a := range attrs {
		list = append(list, a)
	}
	slices.SortFunc(list, func(a, b *hclsyntax.Attribute) int {
		return a.SrcRange.Start.Byte - b.SrcRange.Start.Byte
	})
	return list
}

func findSpec[S any](specs []S, name string, nameOf func(S) string) *S {
	for i := range specs {
		if nameOf(specs[i]) == name {
			return &specs[i]
		}
	}
	return nil
}

func specNames[S any](specs []S, nameOf func(S) string) []string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = nameOf(s)
	}
	return names
}

// didYouMean suggests the valid name closest to a misspelt one, if any is
// close enough to be a plausible typo.
func didYouMean(got string, valid []string) string {
	best, bestDist := "", 3 // at most two edits
	for _, v := range valid {
		if dist := editDistance(got, v); dist < bestDist {
			best, bestDist = v, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes;
// config names are ASCII.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
