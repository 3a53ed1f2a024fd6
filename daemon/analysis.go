package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/garssl/garssld/config"
	"github.com/garssl/garssld/gar/mllm"
	"github.com/garssl/garssld/health"
	"github.com/garssl/garssld/metrics"
	"github.com/garssl/garssld/schedule"
)

// analysis is the part of the pipeline that the mllm, gar and
// shutdown_timeout settings shape: the model client, the GAR loop, the
// readiness watch of the model, and the scheduler in front of them. A
// reload that changes those settings builds a new one and retires the old
// one, which finishes the windows it started.
type analysis struct {
	client *mllm.Client
	model  *metrics.Model
	watch  *health.ModelWatch
	sched  *schedule.Scheduler
	task   *task // runs the scheduler and proves it answers
}

// buildAnalysis builds, without starting anything, the analysis part of
// cfg. Its errors are ConfigErrors: the settings do not work.
func (d *Daemon) buildAnalysis(cfg *config.Config) (*analysis, error) {
	// The model client's series appear once the analysis is started: a
	// reload refused after this leaves none.
	model := d.metrics.Model()
	watch := health.NewModelWatch(model)
	loc, client, err := NewLocalizer(cfg, d.log, watch)
	if err != nil {
		return nil, ConfigError{err}
	}
	var obs schedule.Observer = trackObserver{d.metrics, d.tracks}
	if wrap := d.opts.test.wrapScheduleObserver; wrap != nil {
		obs = wrap(obs)
	}
	sc := SchedulerConfig(cfg, d.runID, cfg.ShutdownTimeout, d.log, obs)
	if d.view != nil {
		sc.Published = d.view.Window
	}
	sched, err := schedule.New(sc, loc, d.publishDetection)
	if err != nil {
		client.CloseIdleConnections()
		return nil, ConfigError{err}
	}
	return &analysis{client: client, model: model, watch: watch, sched: sched}, nil
}

// startAnalysis makes an the current analysis and runs its scheduler. The
// streams are added by the caller.
func (d *Daemon) startAnalysis(an *analysis) {
	d.metrics.UseModel(an.model)
	d.watch.Store(an.watch)
	d.sched.Store(an.sched)
	// Cancelling the task unregisters the heartbeat: a scheduler replaced
	// by a reload drains for up to shutdown_timeout unwatched, while the
	// owner, which reaps it, beats.
	hb := newLoopBeat(d.wd, "scheduler").register()
	an.task = d.startTask("scheduler", hb, d.poke, func(ctx context.Context) error {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			pingScheduler(ctx, an.sched, hb.Beat, d.beat)
		}()
		err := an.sched.Run(ctx)
		wg.Wait()
		return err
	})
}

// stopAnalysis stops an's scheduler: queued windows are dropped
// (shutdown), windows at the model get shutdown_timeout to finish and be
// published. It waits, beating the owner's heartbeat.
func (d *Daemon) stopAnalysis(an *analysis) {
	d.awaitTask(an.task)
	an.client.CloseIdleConnections()
}

// reapRetired forgets retired analyses whose scheduler has stopped.
func (d *Daemon) reapRetired() {
	kept := d.retired[:0]
	for _, an := range d.retired {
		if ended, err := an.task.ended(); ended {
			if err != nil {
				d.log.Warn("a replaced scheduler ended with an error", "error", err)
			}
			an.client.CloseIdleConnections()
			continue
		}
		kept = append(kept, an)
	}
	clear(d.retired[len(kept):])
	d.retired = kept
}

// pingScheduler beats while the scheduler's loop answers: a scheduler
// whose lock is held forever (a hung observer, a deadlock) stops the
// beats and so the systemd watchdog's pings.
func pingScheduler(ctx context.Context, s *schedule.Scheduler, beat func(), every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pctx, cancel := context.WithTimeout(ctx, every)
		if s.Ping(pctx) == nil {
			beat()
		}
		cancel()
	}
}
