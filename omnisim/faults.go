package omnisim

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Faults are the injected failures. They can be replaced at run time with
// Server.SetFaults or POST /admin/faults; the JSON form is
//
//	{"error_rate":0.1,"timeout_rate":0,"garbage_rate":0.05,
//	 "hang_max":"5m","down":"10s-20s,40s-45s:close","refuse_media":"vllm-audio"}
//
// where omitted members are zero, except hang_max which keeps its default.
type Faults struct {
	ErrorRate   float64       // --error-rate: probability of HTTP 500
	TimeoutRate float64       // --timeout-rate: probability of hanging
	GarbageRate float64       // --garbage-rate: probability of unparsable content
	HangMax     time.Duration // --hang-max: longest hang before a 504
	Down        []DownWindow  // --down: outage windows after server start
	// RefuseMedia answers media the simulated server cannot take as that
	// server does (--refuse-media).
	RefuseMedia MediaRefusal
}

// MediaRefusal names a model server set up without support for some media.
// Such a server answers every request carrying that media with HTTP 500
// and its own message, which is what garssld must recognise.
type MediaRefusal string

// The media refusals, with the messages of the real servers.
const (
	RefuseNone MediaRefusal = ""
	// RefuseVLLMAudio is vLLM installed without its audio extra
	// (pip install "vllm[audio]" brings librosa and soundfile).
	RefuseVLLMAudio MediaRefusal = "vllm-audio"
	// RefuseLlamaNoMMProj is llama-server started without --mmproj: it
	// takes neither images nor audio.
	RefuseLlamaNoMMProj MediaRefusal = "llama-no-mmproj"
)

// The real servers' messages (vLLM's multimodal audio loader, llama.cpp's
// server chat parser).
const (
	VLLMAudioMessage  = "Please install vllm[audio] for audio support."
	LlamaImageMessage = "image input is not supported - hint: if this is unexpected, you may need to provide the mmproj"
	LlamaAudioMessage = "audio input is not supported - hint: if this is unexpected, you may need to provide the mmproj"
)

// refusal returns the message the server answers a request carrying the
// given media with, or "" when it takes them.
func (m MediaRefusal) refusal(image, audio bool) string {
	switch {
	case m == RefuseVLLMAudio && audio:
		return VLLMAudioMessage
	case m == RefuseLlamaNoMMProj && image:
		return LlamaImageMessage
	case m == RefuseLlamaNoMMProj && audio:
		return LlamaAudioMessage
	}
	return ""
}

// DownWindow is an outage from From to To after the server started. During it
// the server answers 503, or drops the connection when Close is set.
type DownWindow struct {
	From, To time.Duration
	Close    bool
}

// ParseDownWindows reads the --down syntax: comma-separated "FROM-TO" windows
// with Go durations, each optionally followed by ":close". The empty string
// means no windows.
func ParseDownWindows(spec string) ([]DownWindow, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil
	}
	var windows []DownWindow
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		var w DownWindow
		if rest, ok := strings.CutSuffix(item, ":close"); ok {
			item, w.Close = rest, true
		} else if rest, ok := strings.CutSuffix(item, ":503"); ok {
			item = rest
		}
		from, to, ok := strings.Cut(item, "-")
		if !ok {
			return nil, fmt.Errorf("--down window %q: want FROM-TO[:close], e.g. 10s-20s", item)
		}
		var err error
		if w.From, err = time.ParseDuration(strings.TrimSpace(from)); err != nil {
			return nil, fmt.Errorf("--down window %q: start: %w", item, err)
		}
		if w.To, err = time.ParseDuration(strings.TrimSpace(to)); err != nil {
			return nil, fmt.Errorf("--down window %q: end: %w", item, err)
		}
		if w.From < 0 || w.To <= w.From {
			return nil, fmt.Errorf("--down window %q: want 0 <= FROM < TO", item)
		}
		windows = append(windows, w)
	}
	return windows, nil
}

// FormatDownWindows is the inverse of ParseDownWindows.
func FormatDownWindows(windows []DownWindow) string {
	parts := make([]string, len(windows))
	for i, w := range windows {
		parts[i] = w.String()
	}
	return strings.Join(parts, ",")
}

func (w DownWindow) String() string {
	s := w.From.String() + "-" + w.To.String()
	if w.Close {
		s += ":close"
	}
	return s
}

func (f Faults) validate() error {
	for _, r := range []struct {
		flag  string
		value float64
	}{
		{"--error-rate", f.ErrorRate},
		{"--timeout-rate", f.TimeoutRate},
		{"--garbage-rate", f.GarbageRate},
	} {
		if !(r.value >= 0 && r.value <= 1) {
			return fmt.Errorf("%s must be a probability in [0,1], got %v", r.flag, r.value)
		}
	}
	if sum := f.ErrorRate + f.TimeoutRate + f.GarbageRate; sum > 1+1e-9 {
		return fmt.Errorf("--error-rate + --timeout-rate + --garbage-rate must not exceed 1, got %v", sum)
	}
	switch f.RefuseMedia {
	case RefuseNone, RefuseVLLMAudio, RefuseLlamaNoMMProj:
	default:
		return fmt.Errorf("--refuse-media %q: want %s or %s", f.RefuseMedia, RefuseVLLMAudio, RefuseLlamaNoMMProj)
	}
	if f.HangMax <= 0 {
		return fmt.Errorf("--hang-max must be positive, got %s", f.HangMax)
	}
	for _, w := range f.Down {
		if w.From < 0 || w.To <= w.From {
			return fmt.Errorf("--down window %s: want 0 <= FROM < TO", w)
		}
	}
	return nil
}

// down reports the window containing the given time since start, if any.
func (f Faults) down(sinceStart time.Duration) (DownWindow, bool) {
	for _, w := range f.Down {
		if sinceStart >= w.From && sinceStart < w.To {
			return w, true
		}
	}
	return DownWindow{}, false
}

type faultsWire struct {
	ErrorRate   float64 `json:"error_rate"`
	TimeoutRate float64 `json:"timeout_rate"`
	GarbageRate float64 `json:"garbage_rate"`
	HangMax     string  `json:"hang_max,omitempty"`
	Down        string  `json:"down"`
	RefuseMedia string  `json:"refuse_media,omitempty"`
}

// MarshalJSON writes the /admin/faults form.
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsWire{
		ErrorRate:   f.ErrorRate,
		TimeoutRate: f.TimeoutRate,
		GarbageRate: f.GarbageRate,
		HangMax:     f.HangMax.String(),
		Down:        FormatDownWindows(f.Down),
		RefuseMedia: string(f.RefuseMedia),
	})
}

// UnmarshalJSON reads the /admin/faults form. An omitted hang_max leaves
// f.HangMax as it was, so decode into a copy of the current settings.
func (f *Faults) UnmarshalJSON(data []byte) error {
	var w faultsWire
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	down, err := ParseDownWindows(w.Down)
	if err != nil {
		return err
	}
	next := Faults{ErrorRate: w.ErrorRate, TimeoutRate: w.TimeoutRate, GarbageRate: w.GarbageRate, HangMax: f.HangMax, Down: down, RefuseMedia: MediaRefusal(w.RefuseMedia)}
	if w.HangMax != "" {
		if next.HangMax, err = time.ParseDuration(w.HangMax); err != nil {
			return fmt.Errorf("faults: hang_max: %w", err)
		}
	}
	*f = next
	return nil
}

// faultKind is the outcome of the per-request fault draw.
type faultKind int

const (
	faultNone faultKind = iota
	faultError
	faultHang
	faultGarbage
)

func (k faultKind) String() string {
	switch k {
	case faultError:
		return "error"
	case faultHang:
		return "hang"
	case faultGarbage:
		return "garbage"
	}
	return "none"
}

// drawFault consumes exactly two numbers from the fault generator per request
// whatever the rates are, so changing one rate does not shift later draws of
// the others.
func (s *Server) drawFault() (faultKind, garbageKind, Faults) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	u := s.faultRand.Float64()
	g := garbageKind(s.faultRand.IntN(int(garbageKinds)))
	f := s.faults
	switch {
	case u < f.ErrorRate:
		return faultError, g, f
	case u < f.ErrorRate+f.TimeoutRate:
		return faultHang, g, f
	case u < f.ErrorRate+f.TimeoutRate+f.GarbageRate:
		return faultGarbage, g, f
	}
	return faultNone, g, f
}

// SetFaults replaces the fault settings at run time, e.g. to heal a server a
// test made sick. A zero HangMax keeps the current one.
func (s *Server) SetFaults(f Faults) error {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	if f.HangMax == 0 {
		f.HangMax = s.faults.HangMax
	}
	if err := f.validate(); err != nil {
		return err
	}
	f.Down = append([]DownWindow(nil), f.Down...)
	s.faults = f
	return nil
}

// CurrentFaults returns the fault settings in force.
func (s *Server) CurrentFaults() Faults {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	f := s.faults
	f.Down = append([]DownWindow(nil), f.Down...)
	return f
}
