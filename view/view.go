package view

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/health"
	"github.com/garssl/garssld/windowing"
)

// Observer counts what the view does; metrics.View implements it.
type Observer interface {
	// Viewers reports how many pages are connected to /events.
	Viewers(n int)
	// ViewerDropped counts an event stream ended or refused: "slow",
	// "max_viewers" or "stopping".
	ViewerDropped(reason string)
	// MediaOnHeap counts a window whose media the ring keeps on the Go
	// heap because mapping it outside failed.
	MediaOnHeap()
}

type nopObserver struct{}

func (nopObserver) Viewers(int)          {}
func (nopObserver) ViewerDropped(string) {}
func (nopObserver) MediaOnHeap()         {}

// Options configure a View.
type Options struct {
	// RunID and Version identify the daemon; the run id is part of every
	// media URL and event id.
	RunID, Version string
	// Windows is how many windows of each stream keep their media
	// (http.view_windows); MaxViewers how many pages may follow the events
	// at once (http.max_viewers).
	Windows, MaxViewers int
	// Streams lists the configured streams in config order.
	Streams func() []string
	// Ready says what /readyz says.
	Ready func() health.Report
	// Drops returns each stream's dropped windows by reason
	// (metrics.Metrics.StreamDrops); nil shows none.
	Drops func() map[string]map[string]uint64
	// SetEnabled pauses (false) or resumes (true) a stream as a
	// <stream>/set command does; it must not block. It returns
	// ErrUnknownStream for a stream that is not configured.
	SetEnabled func(stream string, enabled bool) error
	// Observer counts viewers; nil counts nothing.
	Observer Observer
	// Logger gets the view's log lines; hclog's null logger when nil.
	Logger hclog.Logger
	// Poll is how often readiness and drop counts are checked for changes
	// while a page is connected; 1 s when zero.
	Poll time.Duration
}

// ErrUnknownStream is returned by Options.SetEnabled for a stream that is
// not configured; the POST answers 404.
var ErrUnknownStream = errors.New("no such stream")

// View is the operator's live view: the page, its event stream and the
// media of the last windows. Feed it with Window, Detection and
// StreamState (they never block), serve Handler, and run Run.
type View struct {
	o     Options
	log   hclog.Logger
	token string // the CSRF token embedded in the page
	ring  *ring
	hub   *hub

	pollMu sync.Mutex // serialises poll

	// writeWait and heartbeat are writeWait and heartbeatEvery; tests
	// shorten them.
	writeWait, heartbeat time.Duration
}

// New returns a View.
func New(o Options) (*View, error) {
	if o.RunID == "" {
		return nil, errors.New("view: no run id")
	}
	if o.Windows <= 0 || o.MaxViewers <= 0 {
		return nil, fmt.Errorf("view: windows (%d) and max viewers (%d) must be positive", o.Windows, o.MaxViewers)
	}
	if o.Streams == nil {
		o.Streams = func() []string { return nil }
	}
	if o.Ready == nil {
		o.Ready = func() health.Report { return health.Decide(health.Readiness{}) }
	}
	if o.Drops == nil {
		o.Drops = func() map[string]map[string]uint64 { return nil }
	}
	if o.SetEnabled == nil {
		o.SetEnabled = func(string, bool) error { return ErrUnknownStream }
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	tok := make([]byte, 32)
	_, _ = rand.Read(tok) // crypto/rand.Read never fails
	ring := newRing(o.Windows)
	ring.onHeap = func(err error, first bool) {
		o.Observer.MediaOnHeap()
		if first {
			o.Logger.Warn("the live view keeps windows' media on the heap: mapping it failed (counted in garssl_view_media_on_heap_total; logged again only after a mapping succeeded)", "error", err)
		}
	}
	return &View{
		o:     o,
		log:   o.Logger,
		token: hex.EncodeToString(tok),
		ring:  ring,
		hub:   newHub(o.RunID, o.MaxViewers, o.Windows, o.Observer),

		writeWait: writeWait,
		heartbeat: heartbeatEvery,
	}, nil
}

// Window keeps w's media for the detection that follows it at once
// (schedule.Config.Published).
func (v *View) Window(w *windowing.Window) { v.ring.put(w, time.Now()) }

// ForgetStreams drops the media of streams not in keep.
func (v *View) ForgetStreams(keep []string) {
	m := make(map[string]bool, len(keep))
	for _, s := range keep {
		m[s] = true
	}
	v.ring.forget(m)
}

// MediaURLs are the addresses of one window's files.
type MediaURLs struct {
	Model string `json:"model"`
	// Frame is absent when capture did not encode the camera frame.
	Frame       string `json:"frame,omitempty"`
	FrameWidth  int    `json:"frame_width,omitempty"`
	FrameHeight int    `json:"frame_height,omitempty"`
	Audio       string `json:"audio"`
}

// DetectionEvent is the data of a "detection" event.
type DetectionEvent struct {
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq"`
	// Detection is the payload published on MQTT, verbatim.
	Detection json.RawMessage `json:"detection"`
	// Media is null when the window's media left the ring before its
	// detection was published.
	Media *MediaURLs `json:"media"`
}

// StateEvent is the data of a "state" event.
type StateEvent struct {
	Stream string `json:"stream"`
	// State is the retained <stream>/state payload, verbatim.
	State json.RawMessage `json:"state"`
}

// windowPath is the URL path of a window's media directory.
func (v *View) windowPath(stream string, seq uint64) string {
	return "/windows/" + url.PathEscape(v.o.RunID) + "/" + url.PathEscape(stream) + "/" + strconv.FormatUint(seq, 10) + "/"
}

// Detection sends a published detection to the pages. payload is the JSON
// published on MQTT.
func (v *View) Detection(stream string, seq uint64, payload []byte) {
	ev := DetectionEvent{Stream: stream, Seq: seq, Detection: payload}
	if m := v.ring.get(stream, seq); m != nil {
		dir := v.windowPath(stream, seq)
		ev.Media = &MediaURLs{Model: dir + fileModel, Audio: dir + fileAudio}
		if m.Frame != nil {
			ev.Media.Frame = dir + fileFrame
			ev.Media.FrameWidth, ev.Media.FrameHeight = m.FrameWidth, m.FrameHeight
		}
		m.Release()
	}
	data, err := json.Marshal(ev)
	if err != nil {
		// The payload is gar's own JSON; this is a bug, not an input.
		v.log.Error("cannot encode a detection event", "stream", stream, "seq", seq, "error", err)
		return
	}
	v.hub.publish(EventDetection, data, func(st *helloState) {
		list := st.recent[stream]
		if len(list) >= st.keep {
			list = append(list[:0:0], list[len(list)-st.keep+1:]...)
		}
		st.recent[stream] = append(list, data)
	})
}

// StreamState sends a stream's state to the pages. payload is the
// retained <stream>/state payload (publish.StatePayload). Calls come from
// several goroutines; seq orders them, and a late one is dropped.
func (v *View) StreamState(stream string, seq uint64, payload []byte) {
	data, err := json.Marshal(StateEvent{Stream: stream, State: payload})
	if err != nil {
		v.log.Error("cannot encode a state event", "stream", stream, "error", err)
		return
	}
	v.hub.publishIf(EventState, data, func(st *helloState) bool {
		if last, ok := st.stateSeq[stream]; ok && seq < last {
			return false
		}
		st.stateSeq[stream] = seq
		st.states[stream] = payload
		return true
	})
}

// Run checks readiness and drop counts for changes while pages are
// connected, until ctx ends; then it sends the readiness once more (it
// says garssld is stopping) and disconnects every page, so that the HTTP
// server's shutdown does not wait for them. It returns nil.
func (v *View) Run(ctx context.Context) error {
	tick := time.NewTicker(v.o.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			v.poll()
			v.Close()
			return nil
		case <-tick.C:
			if v.hub.viewers() > 0 {
				v.poll()
			}
		}
	}
}

// Close disconnects every page and refuses new ones. It is safe to call
// more than once.
func (v *View) Close() { v.hub.close(true) }

// Disconnect ends the event streams of the pages connected now; they
// reconnect. For a listener that shuts down.
func (v *View) Disconnect() { v.hub.close(false) }

// poll sends a "ready" and a "stats" event when what they say changed.
func (v *View) poll() {
	v.pollMu.Lock()
	defer v.pollMu.Unlock()
	ready, err := json.Marshal(v.o.Ready())
	if err == nil {
		v.hub.publishIf(EventReady, ready, func(st *helloState) bool {
			if bytes.Equal(st.ready, ready) {
				return false
			}
			st.ready = ready
			return true
		})
	}
	stats, err := json.Marshal(statsOf(v.o.Drops()))
	if err == nil {
		v.hub.publishIf(EventStats, stats, func(st *helloState) bool {
			if bytes.Equal(st.stats, stats) {
				return false
			}
			st.stats = stats
			return true
		})
	}
}

// StreamStats is one stream in a "stats" event.
type StreamStats struct {
	// Dropped counts the windows lost before a result, by reason, as
	// garssl_windows_dropped_total does.
	Dropped map[string]uint64 `json:"dropped"`
}

func statsOf(drops map[string]map[string]uint64) map[string]StreamStats {
	out := make(map[string]StreamStats, len(drops))
	for s, d := range drops {
		out[s] = StreamStats{Dropped: d}
	}
	return out
}

// Hello is the data of a "hello" event, the first a page gets unless it
// resumes: everything it shows, as of now.
type Hello struct {
	RunID   string   `json:"run_id"`
	Version string   `json:"version"`
	Streams []string `json:"streams"`
	// Windows is http.view_windows: how many thumbnails a stream's strip
	// holds.
	Windows int `json:"windows"`
	// States, Ready and Stats are the latest "state" (by stream), "ready"
	// and "stats" data.
	States map[string]json.RawMessage `json:"states"`
	Ready  json.RawMessage            `json:"ready"`
	Stats  json.RawMessage            `json:"stats"`
	// Recent are each stream's last detection events, oldest first.
	Recent map[string][]json.RawMessage `json:"recent"`
}

// hello builds a hello event; streams is taken before the hub's lock.
func (v *View) hello(streams []string) func(id string, st *helloState) []byte {
	return func(id string, st *helloState) []byte {
		h := Hello{RunID: v.o.RunID, Version: v.o.Version, Streams: streams, Windows: v.o.Windows,
			States: st.states, Ready: st.ready, Stats: st.stats, Recent: st.recent}
		if h.Streams == nil {
			h.Streams = []string{}
		}
		if h.Ready == nil {
			h.Ready = json.RawMessage("null")
		}
		if h.Stats == nil {
			h.Stats = json.RawMessage("{}")
		}
		data, _ := json.Marshal(h) // raw members are this package's own JSON
		return format(id, EventHello, data)
	}
}
