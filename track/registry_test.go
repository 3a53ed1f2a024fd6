package track

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

// recordSink records what a Registry sends, as "event:<type>:<reason>"
// and "list:<n>" lines per stream.
type recordSink struct {
	mu  sync.Mutex
	got map[string][]string
}

func (s *recordSink) Event(stream string, e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got[stream] = append(s.got[stream], "event:"+e.Type+":"+e.Reason)
}

func (s *recordSink) List(stream string, tracks []Track) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got[stream] = append(s.got[stream], fmt.Sprintf("list:%d", len(tracks)))
}

func (s *recordSink) take(stream string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.got[stream]
	s.got[stream] = nil
	return out
}

// TestRegistryLifecycle: the daemon's lifetimes, as the Sink sees them.
func TestRegistryLifecycle(t *testing.T) {
	on := Settings{Enabled: true, Config: DefaultConfig(), Geometry: "224"}
	dog := src{0.3, 0.5, 0.3, 0.3, "dog"}
	for _, tc := range []struct {
		name string
		act  func(r *Registry)
		want []string
	}{
		{"start: an empty list before any window", func(r *Registry) {}, nil},
		{"pause: end paused and an empty list", func(r *Registry) { r.EndAll("front", ReasonPaused, t0.Add(time1)) },
			[]string{"event:end:paused", "list:0", "list:0"}},
		{"stop: end stopped and an empty list", func(r *Registry) { r.StopAll(t0.Add(time1)) },
			[]string{"event:end:stopped", "list:0", "list:0"}},
		{"remove: end stopped, an empty list, and no more", func(r *Registry) {
			r.Remove("front", t0.Add(time1))
			r.Window(ok(5, dog))
		}, []string{"event:end:stopped", "list:0", "list:0"}},
		{"reload with the same settings keeps the track", func(r *Registry) { r.Configure("front", on, t0.Add(time1)) }, nil},
		{"reload with another geometry ends it", func(r *Registry) {
			g := on
			g.Geometry = "448"
			r.Configure("front", g, t0.Add(time1))
		}, []string{"event:end:reload", "list:0", "list:0"}},
		{"tracking turned off ends it, and takes no windows", func(r *Registry) {
			r.Configure("front", Settings{}, t0.Add(time1))
			r.Window(ok(5, dog))
		}, []string{"event:end:reload", "list:0", "list:0"}},
		{"a new publisher gets the list again", func(r *Registry) { r.Republish() }, []string{"list:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &recordSink{got: map[string][]string{}}
			r := NewRegistry(sink, seqIDs())
			r.Configure("front", on, t0)
			if got := sink.take("front"); !slices.Equal(got, []string{"list:0"}) {
				t.Fatalf("start sent %v, want one empty list", got)
			}
			d := ok(0, dog)
			r.Window(d)
			if got := sink.take("front"); !slices.Equal(got, []string{"event:new:", "list:1"}) || d.Sources[0].TrackID == "" {
				t.Fatalf("the first hit sent %v (track_id %q), want new and a list of one", got, d.Sources[0].TrackID)
			}
			tc.act(r)
			if got := sink.take("front"); !slices.Equal(got, tc.want) {
				t.Errorf("sent %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRegistryDisabled: a stream with tracking off sends its empty list
// once (clearing an earlier run's) and leaves detections alone.
func TestRegistryDisabled(t *testing.T) {
	sink := &recordSink{got: map[string][]string{}}
	r := NewRegistry(sink, seqIDs())
	r.Configure("front", Settings{Config: DefaultConfig()}, t0)
	d := ok(0, src{0.3, 0.5, 0.3, 0.3, "dog"})
	r.Window(d)
	r.Tick(t0.Add(time1))
	r.StopAll(t0.Add(time1))
	if got := sink.take("front"); !slices.Equal(got, []string{"list:0"}) || d.Sources[0].TrackID != "" {
		t.Errorf("sent %v, track_id %q; want one empty list and no track_id", got, d.Sources[0].TrackID)
	}
}

const time1 = 10 * windowLen
