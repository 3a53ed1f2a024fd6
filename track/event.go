package track

import (
	"time"

	"github.com/garssl/garssld/gar"
)

// EventSchemaName is the "schema" member of every event.
const EventSchemaName = "garssl.event/v1"

// ListSchemaName is the "schema" member of every track list.
const ListSchemaName = "garssl.tracks/v1"

// List is the retained <stream>/tracks payload: the stream's confirmed
// tracks now (Active), empty at start and after a stop.
type List struct {
	Schema string  `json:"schema"`
	RunID  string  `json:"run_id"`
	Stream string  `json:"stream"`
	Tracks []Track `json:"tracks"`
}

// NewList returns the list payload of tracks; nil becomes [].
func NewList(runID, stream string, tracks []Track) List {
	if tracks == nil {
		tracks = []Track{}
	}
	return List{Schema: ListSchemaName, RunID: runID, Stream: stream, Tracks: tracks}
}

// Event types.
const (
	TypeNew    = "new"
	TypeUpdate = "update"
	TypeEnd    = "end"
)

// End reasons.
const (
	// ReasonSilence: the track's end_after ran out and the last analysed
	// window was silent.
	ReasonSilence = "silence"
	// ReasonNotSeen: the track's end_after ran out over windows with sound
	// that no source of it matched.
	ReasonNotSeen = "not_seen"
	// ReasonUnknown: no window of the stream was analysed for longer than
	// lost_after.
	ReasonUnknown = "unknown"
	// ReasonStopped: the daemon stopped or the stream was removed.
	ReasonStopped = "stopped"
	// ReasonPaused: the stream was paused.
	ReasonPaused = "paused"
	// ReasonReload: a reload restarted the stream's tracks.
	ReasonReload = "reload"
)

// Event is one step of a track's life: new when it is confirmed, update on
// a meaningful change, end with a reason.
type Event struct {
	Schema string `json:"schema"`
	Type   string `json:"type"`
	Stream string `json:"stream"`
	// Time is the end of the window that caused the event, or the time
	// given to Tick, Unknown or EndAll; a consumer can tell a replayed
	// event is old.
	Time time.Time `json:"time"`
	// Track is the state after the event.
	Track Track `json:"track"`
	// Before is the last state sent for the track (the one consumers hold);
	// nil for new.
	Before *Track `json:"before"`
	// Key is the detection key of the window that caused the event; nil
	// when no window did (a timeout, a stop).
	Key *Key `json:"key"`
	// Reason says why a track ended; empty for new and update.
	Reason string `json:"reason,omitempty"`
}

// Key is a detection's key.
type Key struct {
	RunID  string `json:"run_id"`
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq"`
}

// Track is the published state of a track. Raw members are those of the
// source of its last hit; smoothed ones come from the motion filter.
type Track struct {
	ID         string  `json:"id"`
	Label      string  `json:"label"`
	Confidence float64 `json:"confidence"`
	// FirstSeen is the start of the track's first window with a hit;
	// LastSeen the end of its last one.
	FirstSeen        time.Time  `json:"first_seen"`
	LastSeen         time.Time  `json:"last_seen"`
	Hits             int        `json:"hits"`
	BBoxNorm         [4]float64 `json:"bbox_norm"`
	SmoothedBBoxNorm [4]float64 `json:"smoothed_bbox_norm"`
	BBox             gar.Box    `json:"bbox"`
	SmoothedBBox     gar.Box    `json:"smoothed_bbox"`
	// The bearings are present only with a camera model (hfov_deg).
	BearingDeg         *float64 `json:"bearing_deg,omitempty"`
	SmoothedBearingDeg *float64 `json:"smoothed_bearing_deg,omitempty"`
}
