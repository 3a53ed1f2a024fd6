package track

import (
	"sync"
	"time"

	"github.com/garssl/garssld/gar"
)

// Sink receives what a Registry's trackers make. Its methods are called
// with the stream's lock held, in the order the events happened, from the
// goroutines that call the Registry; they must be quick and must not
// block (the publisher queues, it never waits for the network).
type Sink interface {
	// Event is one event of stream's tracks.
	Event(stream string, e Event)
	// List is stream's confirmed tracks after a change (empty at start
	// and after EndAll or Remove); a retained message.
	List(stream string, tracks []Track)
}

// Settings are what a stream's tracker is built from. A stream whose
// Settings change (tracking settings, or its geometry: the camera's field
// of view, the model's picture size, the input) ends its tracks with
// ReasonReload and gets a new Tracker: boxes measured in another geometry
// are not comparable. Settings is comparable with ==.
type Settings struct {
	// Enabled false: the stream has no tracker; its detections pass
	// untouched (no track_id) and it makes no events.
	Enabled bool
	Config  Config
	// Geometry names what else shapes the stream's boxes (the daemon
	// writes the model size and the input); any change restarts tracks.
	Geometry string
}

// Registry holds one Tracker per stream and serialises the calls on each,
// since a Tracker is not safe for concurrent use: windows of a stream can
// finish on several goroutines at once, while a ticker and the owner call
// too. It is safe for concurrent use.
type Registry struct {
	sink  Sink
	newID func() string

	mu      sync.Mutex
	streams map[string]*entry
}

type entry struct {
	mu       sync.Mutex
	settings Settings
	t        *Tracker // nil when tracking is off
}

// NewRegistry returns an empty Registry; newID is shared by all its
// trackers, so ids never repeat across streams or restarts of a tracker.
func NewRegistry(sink Sink, newID func() string) *Registry {
	return &Registry{sink: sink, newID: newID, streams: make(map[string]*entry)}
}

func (r *Registry) entry(stream string) *entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.streams[stream]
}

// Configure makes stream's tracker match s. A new stream starts with an
// empty list (sent to the Sink even when tracking is off, so that a list
// retained by an earlier run is cleared). Changed Settings end the open
// tracks with ReasonReload, at at, and start afresh; equal ones keep them.
func (r *Registry) Configure(stream string, s Settings, at time.Time) {
	r.mu.Lock()
	e, ok := r.streams[stream]
	if !ok {
		e = &entry{}
		r.streams[stream] = e
	}
	r.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if ok && e.settings == s {
		return
	}
	if e.t != nil {
		r.emit(stream, e, e.t.EndAll(ReasonReload, at))
	}
	e.settings, e.t = s, nil
	if s.Enabled {
		e.t = New(stream, s.Config, r.newID)
	}
	r.sink.List(stream, []Track{})
}

// Window feeds one analysed window (any status) of d's stream to its
// tracker, which sets the track_id of d's sources; call it before d is
// published. Without a tracker d is left alone.
func (r *Registry) Window(d *gar.Detection) {
	e := r.entry(d.Stream)
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.t != nil {
		r.emit(d.Stream, e, e.t.Window(d))
	}
}

// Unknown tells stream's tracker that a window was lost without a result
// (dropped, a capture gap) at at.
func (r *Registry) Unknown(stream string, at time.Time) {
	r.each([]string{stream}, false, func(name string, e *entry) { r.emit(name, e, e.t.Unknown(at)) })
}

// Tick lets every tracker end the tracks lost_after ran out on; call it at
// least once a second.
func (r *Registry) Tick(now time.Time) {
	r.each(nil, false, func(name string, e *entry) { r.emit(name, e, e.t.Tick(now)) })
}

// EndAll ends stream's open tracks with reason (a pause) and sends the
// empty list.
func (r *Registry) EndAll(stream, reason string, at time.Time) {
	r.each([]string{stream}, false, func(name string, e *entry) {
		r.emit(name, e, e.t.EndAll(reason, at))
		r.sink.List(name, []Track{})
	})
}

// Remove ends stream's tracks with ReasonStopped, sends the empty list and
// forgets the stream (removed by a reload).
func (r *Registry) Remove(stream string, at time.Time) {
	r.EndAll(stream, ReasonStopped, at)
	r.mu.Lock()
	delete(r.streams, stream)
	r.mu.Unlock()
}

// StopAll ends every stream's tracks with ReasonStopped and sends their
// empty lists: the daemon's clean stop, before the publisher flushes.
func (r *Registry) StopAll(at time.Time) {
	r.each(nil, false, func(name string, e *entry) {
		r.emit(name, e, e.t.EndAll(ReasonStopped, at))
		r.sink.List(name, []Track{})
	})
}

// Republish sends every stream's current list again (a new publisher).
func (r *Registry) Republish() {
	r.each(nil, true, func(name string, e *entry) {
		tracks := []Track{}
		if e.t != nil {
			tracks = e.t.Active()
		}
		r.sink.List(name, tracks)
	})
}

// each runs fn under the lock of each named stream (all when names is nil)
// that has a tracker, or of every one with all.
func (r *Registry) each(names []string, all bool, fn func(string, *entry)) {
	if names == nil {
		r.mu.Lock()
		for name := range r.streams {
			names = append(names, name)
		}
		r.mu.Unlock()
	}
	for _, name := range names {
		e := r.entry(name)
		if e == nil {
			continue
		}
		e.mu.Lock()
		if all || e.t != nil {
			fn(name, e)
		}
		e.mu.Unlock()
	}
}

// emit hands evs to the Sink, then the list when it changed; e.mu is held.
func (r *Registry) emit(stream string, e *entry, evs []Event) {
	for _, ev := range evs {
		r.sink.Event(stream, ev)
	}
	if len(evs) > 0 {
		tracks := []Track{}
		if e.t != nil {
			tracks = e.t.Active()
		}
		r.sink.List(stream, tracks)
	}
}
