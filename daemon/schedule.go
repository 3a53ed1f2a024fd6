package daemon

import (
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/config"
	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/schedule"
)

// SchedulerConfig is the scheduler's part of cfg. MaxWindows is every
// endpoint's in-flight cap added up, so that each running window can have a
// request on the model (see package schedule). obs may be nil.
func SchedulerConfig(cfg *config.Config, runID string, shutdownTimeout time.Duration, log hclog.Logger, obs schedule.Observer) schedule.Config {
	return schedule.Config{
		Node:            cfg.NodeID,
		RunID:           runID,
		MaxWindows:      cfg.MLLM.MaxInFlight * len(cfg.MLLM.Endpoints),
		WindowDeadline:  cfg.MLLM.WindowDeadline,
		SilenceDBFS:     cfg.GAR.SilenceDBFS,
		ShutdownTimeout: shutdownTimeout,
		Logger:          log.Named("schedule"),
		Observer:        obs,
	}
}

// StreamSchedule is the scheduler's part of a stream block. A stream with a
// mic_array gets its direction finder, counted by obs (which may be nil);
// its error means the block does not work (load validates it first).
func StreamSchedule(s config.Stream, obs gar.DirectionObserver) (schedule.StreamConfig, error) {
	sc := schedule.StreamConfig{Name: s.Name, MaxQueue: s.MaxQueue, StaleAfter: s.StaleAfter}
	if s.Camera != nil {
		sc.HFOVDeg = s.Camera.HFOVDeg
	}
	if a := s.MicArray; a != nil {
		dir, err := gar.NewDirection(gar.DirectionConfig{
			Stream: s.Name, Positions: a.Positions,
			YawOffsetDeg: a.YawOffsetDeg, PitchOffsetDeg: a.PitchOffsetDeg,
			ToleranceDeg: a.ToleranceDeg, Hint: a.Hint, MaxSources: a.MaxSources,
			Observer: obs,
		})
		if err != nil {
			return sc, fmt.Errorf("stream %q: %w", s.Name, err)
		}
		sc.Direction = dir
	}
	return sc, nil
}

// schedule adds a stream to sched, its direction finding counted in the
// daemon's metrics.
func (d *Daemon) schedule(sched *schedule.Scheduler, s config.Stream) error {
	sc, err := StreamSchedule(s, d.metrics)
	if err != nil {
		return err
	}
	return sched.Add(sc)
}
