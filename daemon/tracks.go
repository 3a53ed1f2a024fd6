package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/garssl/garssld/config"
	"github.com/garssl/garssld/schedule"
	"github.com/garssl/garssld/track"
)

// tickTracksEvery is how often the trackers are told the time, so that
// lost_after ends tracks of a stream whose windows stopped coming
// (issue 15: at least once a second).
const tickTracksEvery = time.Second

// trackSink publishes the trackers' events and lists through the current
// publisher and counts them. It never blocks: the publisher queues.
type trackSink struct{ d *Daemon }

// Event implements track.Sink.
func (s trackSink) Event(stream string, e track.Event) {
	payload, err := json.Marshal(e)
	if err != nil {
		// Plain values only; a bug, logged so it is seen.
		s.d.log.Error("cannot encode a track event", "stream", stream, "error", err)
		return
	}
	s.d.metrics.TrackEvent(stream, e.Type)
	s.d.pub.Load().Event(stream, payload)
}

// List implements track.Sink.
func (s trackSink) List(stream string, tracks []track.Track) {
	payload, err := json.Marshal(track.NewList(s.d.runID, stream, tracks))
	if err != nil {
		s.d.log.Error("cannot encode a track list", "stream", stream, "error", err)
		return
	}
	s.d.metrics.Tracks(stream, len(tracks))
	s.d.pub.Load().Tracks(stream, payload)
}

// trackSettings is what stream s's tracker is built from: its tracking
// block (or the top-level one), its camera, and its geometry.
func trackSettings(cfg *config.Config, s config.Stream) track.Settings {
	t := cfg.TrackingOf(s)
	tc := track.Config{
		ConfirmHits: t.ConfirmHits, EndAfter: t.EndAfter, LostAfter: t.LostAfter, Heartbeat: t.Heartbeat,
		UpdateBearingDeg: t.UpdateBearingDeg, UpdateCentreFrac: t.UpdateCentreFrac, MaxTracks: t.MaxTracks,
	}
	if s.Camera != nil {
		tc.HFOVDeg = s.Camera.HFOVDeg
	}
	return track.Settings{
		Enabled:  t.Enabled,
		Config:   tc,
		Geometry: fmt.Sprintf("model_size=%d input=%s", cfg.GAR.ModelSize, s.Input),
	}
}

// tickTracks is the tracks task: Tick once a second until ctx ends,
// beating after each (a tracker stuck on its lock stops the beats).
func (d *Daemon) tickTracks(ctx context.Context, beat func()) error {
	tick := time.NewTicker(tickTracksEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			d.tracks.Tick(now)
			beat()
		}
	}
}

// trackObserver passes the scheduler's observations on, and tells the
// stream's tracker about every dropped window: unknown, not absent.
type trackObserver struct {
	schedule.Observer
	tracks *track.Registry
}

// Dropped implements schedule.Observer.
func (o trackObserver) Dropped(stream, reason string) {
	o.Observer.Dropped(stream, reason)
	o.tracks.Unknown(stream, time.Now())
}
