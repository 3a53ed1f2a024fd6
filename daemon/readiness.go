package daemon

import (
	"github.com/garssl/garssld/config"
	"github.com/garssl/garssld/health"
	"github.com/garssl/garssld/httpauth"
	"github.com/garssl/garssld/metrics"
)

// listen binds the HTTP listener of cfg: /metrics from the daemon's
// registry, /healthz from the watchdog's hung loops, /readyz from
// readiness, and the live view, behind basic auth when http.auth_file is
// set. A password file that cannot be used is a ConfigError.
func (d *Daemon) listen(cfg *config.Config) (*health.Server, error) {
	hc := health.Config{
		Listen:   cfg.HTTP.Listen,
		Gatherer: d.reg,
		Ready:    d.readiness,
		Hung:     d.wd.Hung,
		Logger:   d.log.Named("http"),
	}
	if d.view != nil && cfg.HTTP.View {
		hc.Page = d.view.Handler()
		// A listener replaced by a reload ends its pages' event streams;
		// they reconnect to the new one.
		hc.OnShutdown = d.view.Disconnect
	}
	if cfg.HTTP.AuthFile != "" {
		users, err := httpauth.Load(cfg.HTTP.AuthFile, d.metrics.View(), d.log.Named("http"))
		if err != nil {
			return nil, ConfigError{err}
		}
		hc.Auth, hc.AuthMetrics = users.Wrap, cfg.HTTP.AuthMetrics
	}
	return health.Listen(hc)
}

// readiness gathers what /readyz decides from: the broker connection, the
// streams' states, the model endpoints' breakers and refusals, the streams
// the model is too slow for, and whether shutdown began. Called from HTTP
// handlers.
func (d *Daemon) readiness() health.Readiness {
	pub := d.pub.Load()
	r := health.Readiness{
		Stopping:      d.stopping.Load(),
		MQTTConnected: pub.Connected(),
		Problems:      pub.Problems(),
		Warnings:      pub.Warnings(),
		Endpoints:     d.watch.Load().Endpoints(),
		Streams:       map[string]string{},
	}
	for _, g := range d.sched.Load().Degraded() {
		r.Degraded = append(r.Degraded, health.DegradedStream{Stream: g.Stream, Dropped: g.Dropped,
			ServiceTime: g.ServiceTime, StaleAfter: g.StaleAfter})
	}
	for _, run := range d.runningStreams() {
		state, _, _ := run.sup.status()
		r.Streams[run.sup.cfg.Name] = state
	}
	return r
}

// snapshots is metrics.Options.Streams: every stream's counters, read at
// scrape time.
func (d *Daemon) snapshots() []metrics.StreamSnapshot {
	runs := d.runningStreams()
	out := make([]metrics.StreamSnapshot, len(runs))
	for i, run := range runs {
		out[i] = run.sup.snapshot()
	}
	return out
}

// runningStreams lists the streams for readers off the owner loop.
func (d *Daemon) runningStreams() []*streamRun {
	d.streamsMu.Lock()
	defer d.streamsMu.Unlock()
	runs := make([]*streamRun, 0, len(d.streamOrder))
	for _, name := range d.streamOrder {
		runs = append(runs, d.streams[name])
	}
	return runs
}
