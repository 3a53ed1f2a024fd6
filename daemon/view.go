package daemon

import (
	"github.com/garssl/garssld/config"
	"github.com/garssl/garssld/health"
	"github.com/garssl/garssld/view"
)

// buildView builds the live view of cfg: it reads readiness as /readyz
// does, drop counts from the metrics, and sends pause and resume through
// the set commands' path.
func (d *Daemon) buildView(cfg *config.Config) (*view.View, error) {
	return view.New(view.Options{
		RunID:      d.runID,
		Version:    d.opts.Version,
		Windows:    cfg.HTTP.ViewWindows,
		MaxViewers: cfg.HTTP.MaxViewers,
		Streams:    d.runningNames,
		Ready:      func() health.Report { return health.Decide(d.readiness()) },
		Drops:      d.metrics.StreamDrops,
		SetEnabled: d.setFromView,
		Observer:   d.metrics.View(),
		Logger:     d.log.Named("view"),
	})
}

// setFromView is what a pause or resume from the page does: the same as a
// <stream>/set command.
func (d *Daemon) setFromView(stream string, enabled bool) error {
	for _, name := range d.runningNames() {
		if name == stream {
			d.commands.put(stream, enabled)
			return nil
		}
	}
	return view.ErrUnknownStream
}

// runningNames lists the streams in config order, for readers off the
// owner loop.
func (d *Daemon) runningNames() []string {
	d.streamsMu.Lock()
	defer d.streamsMu.Unlock()
	return append([]string{}, d.streamOrder...)
}
