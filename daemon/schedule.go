package daemon

import (
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/config"
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

// StreamSchedule is the scheduler's part of a stream block.
func StreamSchedule(s config.Stream) schedule.StreamConfig {
	sc := schedule.StreamConfig{Name: s.Name, MaxQueue: s.MaxQueue, StaleAfter: s.StaleAfter}
	if s.Camera != nil {
		sc.HFOVDeg = s.Camera.HFOVDeg
	}
	return sc
}
