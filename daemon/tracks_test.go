package daemon

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/schematest"
	"github.com/garssl/garssld/internal/testmedia"
	"github.com/garssl/garssld/track"
)

// movingClip is the red square of makeClip moving right at pxPerSec, with
// the same tone, for a track whose bearing changes.
func movingClip(t testing.TB, dir string, seconds float64, pxPerSec int) string {
	t.Helper()
	d := fmt.Sprint(seconds)
	return testmedia.File(t, dir, "moving.mp4",
		"-f", "lavfi", "-i", fmt.Sprintf("color=c=0x303030:s=%dx%d:r=25:d=%s", clipW, clipH, d),
		"-f", "lavfi", "-i", "color=c=0xff0000:s=60x60:r=25:d="+d,
		"-f", "lavfi", "-i", "sine=f=880:sample_rate=48000:d="+d,
		"-filter_complex", fmt.Sprintf("[0][1]overlay=x='10+%d*t':y=90[v]", pxPerSec),
		"-map", "[v]", "-map", "2:a", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "48k", "-ac", "1", "-shortest")
}

// trackSchemas compiles the event and track-list schemas.
func trackSchemas(t testing.TB) (event, list *jsonschema.Schema) {
	files := map[string][]byte{"event.v1.schema.json": gar.EventSchema, "tracks.v1.schema.json": gar.TracksSchema}
	return schematest.CompileSet(t, "event.v1.schema.json", files), schematest.CompileSet(t, "tracks.v1.schema.json", files)
}

// trackMessages validates every event and track list of stream in msgs
// against the schemas and returns them decoded, in arrival order; index
// maps each to its position in msgs.
type trackMsg struct {
	index int
	event *track.Event
	list  *track.List
}

func trackMessages(t testing.TB, msgs []mosquittotest.Message, stream string) []trackMsg {
	t.Helper()
	evSch, listSch := trackSchemas(t)
	var out []trackMsg
	for i, m := range msgs {
		switch m.Topic {
		case topic(stream, "events"):
			if err := schematest.Validate(evSch, m.Payload); err != nil {
				t.Errorf("event %s does not validate: %v", m.Payload, err)
			}
			if m.Retained {
				t.Errorf("event %s arrived retained", m.Payload)
			}
			var e track.Event
			if err := json.Unmarshal(m.Payload, &e); err != nil {
				t.Fatal(err)
			}
			out = append(out, trackMsg{index: i, event: &e})
		case topic(stream, "tracks"):
			if err := schematest.Validate(listSch, m.Payload); err != nil {
				t.Errorf("track list %s does not validate: %v", m.Payload, err)
			}
			var l track.List
			if err := json.Unmarshal(m.Payload, &l); err != nil {
				t.Fatal(err)
			}
			out = append(out, trackMsg{index: i, list: &l})
		}
	}
	return out
}

func eventsOf(ms []trackMsg) []track.Event {
	var out []track.Event
	for _, m := range ms {
		if m.event != nil {
			out = append(out, *m.event)
		}
	}
	return out
}

// retainedTracks is what a subscriber that connects now gets on stream's
// tracks topic.
func retainedTracks(t testing.TB, b *mosquittotest.Broker, stream string) track.List {
	t.Helper()
	sub := mosquittotest.Subscribe(t, b.URL(), mosquittotest.SubscriberConfig{
		ClientID: fmt.Sprintf("late-%d", time.Now().UnixNano()), QoS: 1, Topics: []string{topic(stream, "tracks")}})
	defer sub.Close()
	sub.WaitFor(t, "the retained tracks of "+stream, 30*time.Second, func(m []mosquittotest.Message) bool { return len(m) > 0 })
	m := sub.Messages()[0]
	if !m.Retained {
		t.Errorf("the tracks list %s is not retained", m.Payload)
	}
	_, listSch := trackSchemas(t)
	if err := schematest.Validate(listSch, m.Payload); err != nil {
		t.Errorf("track list %s does not validate: %v", m.Payload, err)
	}
	var l track.List
	if err := json.Unmarshal(m.Payload, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestTracksEndToEnd runs the daemon on a clip of a source moving across
// the frame, against omnisim in truth mode: an empty retained list comes
// before the first detection; the source becomes one track (new), whose
// updates each follow the rule (the smoothed bearing moved at least
// update_bearing_deg from the last state sent); its id is the detections'
// track_id; a subscriber that connects late finds it retained; SIGTERM
// ends it (stopped, no window key) and empties the retained list.
func TestTracksEndToEnd(t *testing.T) {
	dir := t.TempDir()
	clip := movingClip(t, dir, 30, 8)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	sub := subscribe(t, b, "tracks-e2e")
	s := startSim(t, 0)
	r := startDaemon(t, configText(setup{
		broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store"),
	}, streamSpec{name: "front", input: clip, extra: []string{"camera {\n    hfov_deg = 90\n  }"}}), nil, testHooks{})

	// Six hits at least, so that hits without an update are certain.
	sub.WaitFor(t, "an update event and six hits", 60*time.Second, func(m []mosquittotest.Message) bool {
		hits := 0
		for _, d := range detections(t, m, "front") {
			if d.Status == gar.StatusOK && len(d.Sources) > 0 && d.Sources[0].TrackID != "" {
				hits++
			}
		}
		for _, e := range eventsOf(trackMessages(t, m, "front")) {
			if e.Type == track.TypeUpdate {
				return hits >= 6
			}
		}
		return false
	})
	msgs := sub.Messages()
	ms := trackMessages(t, msgs, "front")
	if len(ms) == 0 || ms[0].list == nil || len(ms[0].list.Tracks) != 0 || ms[0].list.RunID != r.RunID() {
		t.Fatalf("the first track message is %+v, want this run's empty list", ms[0])
	}
	firstDet := -1
	for i, m := range msgs {
		if m.Topic == topic("front", "detections") {
			firstDet = i
			break
		}
	}
	if firstDet < ms[0].index {
		t.Errorf("the first detection (message %d) came before the empty track list (message %d)", firstDet, ms[0].index)
	}
	evs := eventsOf(ms)
	id := evs[0].Track.ID
	if evs[0].Type != track.TypeNew || evs[0].Before != nil || evs[0].Key == nil || evs[0].Key.RunID != r.RunID() {
		t.Fatalf("the first event is %+v, want new with this run's window key", evs[0])
	}

	// A subscriber that connects late knows the scene at once.
	late := retainedTracks(t, b, "front")
	if len(late.Tracks) != 1 || late.Tracks[0].ID != id || late.RunID != r.RunID() {
		t.Errorf("a late subscriber got %+v, want this run's track %s", late, id)
	}

	if err := r.stop(t); err != nil {
		t.Fatalf("Run after SIGTERM = %v", err)
	}
	sub.WaitFor(t, "status stopped", 30*time.Second, func(m []mosquittotest.Message) bool { return seenStatus(t, m, "stopped") })
	msgs = sub.Messages()
	evs = eventsOf(trackMessages(t, msgs, "front"))
	var seq []string
	for _, e := range evs {
		seq = append(seq, e.Type)
		if e.Track.ID != id {
			t.Errorf("event %s of track %s; want one track, %s", e.Type, e.Track.ID, id)
		}
	}
	last := evs[len(evs)-1]
	if last.Type != track.TypeEnd || last.Reason != track.ReasonStopped || last.Key != nil {
		t.Errorf("the last event is %s (%s, key %v), want end stopped without a window key", last.Type, last.Reason, last.Key)
	}
	updates := 0
	for i, e := range evs {
		switch {
		case i == 0 || i == len(evs)-1:
		case e.Type != track.TypeUpdate:
			t.Errorf("events %v: want new, update…, end", seq)
		default:
			updates++
			moved := math.Abs(*e.Track.SmoothedBearingDeg - *e.Before.SmoothedBearingDeg)
			if moved < track.DefaultConfig().UpdateBearingDeg && e.Track.Label == e.Before.Label {
				t.Errorf("update %d: the smoothed bearing moved %.2f° and the label stayed %q: not a meaningful change", i, moved, e.Track.Label)
			}
		}
	}
	// Every window of the source was a hit; only some sent an update.
	hits := last.Track.Hits
	t.Logf("events %v over %d hits", seq, hits)
	if updates == 0 || updates >= hits-1 {
		t.Errorf("%d updates for %d hits: want some, and fewer than the hits", updates, hits)
	}
	for _, d := range detections(t, msgs, "front") {
		for _, src := range d.Sources {
			if d.RunID == r.RunID() && src.TrackID != id {
				t.Errorf("seq %d: source track_id %q, want %s", d.Seq, src.TrackID, id)
			}
		}
	}
	if l := retainedTracks(t, b, "front"); len(l.Tracks) != 0 {
		t.Errorf("after a clean stop the retained list is %+v, want empty", l)
	}
}

// TestTrackingDisabled: tracking { enabled = false } publishes no events
// and no track_id (only the empty list that clears an earlier run's).
func TestTrackingDisabled(t *testing.T) {
	dir := t.TempDir()
	clip := movingClip(t, dir, 30, 8)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	sub := subscribe(t, b, "tracks-off")
	s := startSim(t, 0)
	text := configText(setup{broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store")},
		streamSpec{name: "front", input: clip}) + "tracking {\n  enabled = false\n}\n"
	r := startDaemon(t, text, nil, testHooks{})
	sub.WaitFor(t, "three ok detections", 60*time.Second, func(m []mosquittotest.Message) bool {
		n := 0
		for _, d := range detections(t, m, "front") {
			if d.Status == gar.StatusOK {
				n++
			}
		}
		return n >= 3
	})
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	sub.WaitFor(t, "status stopped", 30*time.Second, func(m []mosquittotest.Message) bool { return seenStatus(t, m, "stopped") })
	msgs := sub.Messages()
	if evs := eventsOf(trackMessages(t, msgs, "front")); len(evs) != 0 {
		t.Errorf("%d events with tracking off", len(evs))
	}
	for _, d := range detections(t, msgs, "front") {
		for _, src := range d.Sources {
			if src.TrackID != "" {
				t.Errorf("seq %d has track_id %q with tracking off", d.Seq, src.TrackID)
			}
		}
	}
}

// TestTracksReloadAndPause: a reload that changes the stream's camera ends
// its track (reload) and a new one starts with a new id; a pause command
// ends that one at once (paused) and empties the retained list.
func TestTracksReloadAndPause(t *testing.T) {
	dir := t.TempDir()
	clip := movingClip(t, dir, 60, 2)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	sub := subscribe(t, b, "tracks-reload")
	s := startSim(t, 0)
	text := func(hfov int) string {
		return configText(setup{broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store")},
			streamSpec{name: "front", input: clip, extra: []string{fmt.Sprintf("camera {\n    hfov_deg = %d\n  }", hfov)}})
	}
	r := startDaemon(t, text(90), nil, testHooks{})
	waitEvents := func(what string, n int) []track.Event {
		t.Helper()
		sub.WaitFor(t, what, 60*time.Second, func(m []mosquittotest.Message) bool { return len(eventsOf(trackMessages(t, m, "front"))) >= n })
		return eventsOf(trackMessages(t, sub.Messages(), "front"))
	}
	first := waitEvents("the first new", 1)[0]

	r.reload(t, text(70))
	evs := waitEvents("the end by reload and a new track", 3)
	var ended, second *track.Event
	for i, e := range evs {
		switch {
		case e.Type == track.TypeEnd && e.Track.ID == first.Track.ID:
			ended = &evs[i]
		case e.Type == track.TypeNew && e.Track.ID != first.Track.ID:
			second = &evs[i]
		}
	}
	if ended == nil || ended.Reason != track.ReasonReload || second == nil {
		t.Fatalf("events after the camera changed: %+v; want the first track ended by reload and a new one", evs)
	}

	b.Publish(t, topic("front", "set"), false, `{"enabled":false}`)
	sub.WaitFor(t, "the end by pause", 60*time.Second, func(m []mosquittotest.Message) bool {
		for _, e := range eventsOf(trackMessages(t, m, "front")) {
			if e.Type == track.TypeEnd && e.Track.ID == second.Track.ID {
				return e.Reason == track.ReasonPaused
			}
		}
		return false
	})
	if l := retainedTracks(t, b, "front"); len(l.Tracks) != 0 {
		t.Errorf("a paused stream's retained list is %+v, want empty", l)
	}
}
