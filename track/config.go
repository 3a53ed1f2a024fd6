package track

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// MaxTracksLimit bounds Config.MaxTracks: the assignment is a brute-force
// search whose worst case grows with the open tracks (see doc.go).
const MaxTracksLimit = 16

// Config holds a stream's tracking settings. The zero value is not valid;
// start from DefaultConfig.
type Config struct {
	// ConfirmHits is the hits that confirm a track; only confirmed tracks
	// make events and carry a track_id.
	ConfirmHits int
	// EndAfter ends a track when the end of the last analysed window is
	// this long after the end of the track's last hit.
	EndAfter time.Duration
	// LostAfter ends every track of a stream that had no analysed window
	// for longer than this (the windows were unknown: model unavailable,
	// dropped, a capture gap).
	LostAfter time.Duration
	// Heartbeat sends an update for a hit of a track whose last sent state
	// is this old; 0 turns heartbeats off.
	Heartbeat time.Duration
	// UpdateBearingDeg is the move of the smoothed bearing, from the last
	// sent state, that makes an update; used with a camera model.
	UpdateBearingDeg float64
	// UpdateCentreFrac is the move of the smoothed box centre, from the
	// last sent state, as a fraction of the frame diagonal, that makes an
	// update; used without a camera model.
	UpdateCentreFrac float64
	// HFOVDeg is the camera's horizontal field of view; 0 means no camera
	// model (no bearings, centre moves instead).
	HFOVDeg float64
	// MaxTracks bounds the open tracks of the stream (1…MaxTracksLimit);
	// when full, the oldest tentative track gives way to a new one.
	MaxTracks int
}

// DefaultConfig returns the defaults of issue 15.
func DefaultConfig() Config {
	return Config{
		ConfirmHits:      1,
		EndAfter:         6 * time.Second,
		LostAfter:        30 * time.Second,
		Heartbeat:        60 * time.Second,
		UpdateBearingDeg: 5,
		UpdateCentreFrac: 0.05,
		MaxTracks:        MaxTracksLimit,
	}
}

// Validate reports every setting out of range, named as in the tracking
// block of the configuration.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.ConfirmHits < 1 {
		bad("confirm_hits = %d: must be at least 1", c.ConfirmHits)
	}
	if c.EndAfter <= 0 {
		bad("end_after = %s: must be positive", c.EndAfter)
	}
	if c.LostAfter < c.EndAfter || c.LostAfter <= 0 {
		bad("lost_after = %s: must be positive and at least end_after (%s)", c.LostAfter, c.EndAfter)
	}
	if c.Heartbeat < 0 {
		bad("heartbeat = %s: must be 0 (off) or positive", c.Heartbeat)
	}
	if !(c.UpdateBearingDeg > 0 && c.UpdateBearingDeg <= 180) {
		bad("update_bearing_deg = %v: must be in (0, 180]", c.UpdateBearingDeg)
	}
	if !(c.UpdateCentreFrac > 0 && c.UpdateCentreFrac <= 1) {
		bad("update_centre_frac = %v: must be in (0, 1]", c.UpdateCentreFrac)
	}
	if !(c.HFOVDeg >= 0 && c.HFOVDeg < 180) || math.IsNaN(c.HFOVDeg) {
		bad("hfov_deg = %v: must be 0 (no camera model) or in (0, 180)", c.HFOVDeg)
	}
	if c.MaxTracks < 1 || c.MaxTracks > MaxTracksLimit {
		bad("max_tracks = %d: must be in 1…%d", c.MaxTracks, MaxTracksLimit)
	}
	return errors.Join(errs...)
}
