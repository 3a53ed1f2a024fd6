package daemon

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/garssl/garssld/config"
	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/metrics"
	"github.com/garssl/garssld/publish"
)

// buildPublisher builds, without connecting, the MQTT publisher of cfg.
// Its errors are ConfigErrors (a password or TLS file that cannot be
// used).
//
// The publisher's loop beats the returned heartbeat, which its task
// registers once the loop runs: a publisher stuck in a call (paho's
// Publish, the file store) fails /healthz and withholds the watchdog's
// pings.
func (d *Daemon) buildPublisher(cfg *config.Config) (*publish.Publisher, *loopBeat, error) {
	o, err := publish.FromConfig(cfg, d.opts.Version)
	if err != nil {
		return nil, nil, ConfigError{err}
	}
	o.Logger = d.log.Named("mqtt")
	o.Observer = d.metrics.MQTT()
	o.OnSet = d.commands.put
	o.RunID = d.runID
	beat := newLoopBeat(d.wd, "mqtt publisher")
	o.Heartbeat = beat.Beat
	if hook := d.opts.test.publisherBeat; hook != nil {
		o.Heartbeat = func() { hook(); beat.Beat() }
	}
	p, err := publish.New(o)
	if err != nil {
		return nil, nil, ConfigError{err}
	}
	return p, beat, nil
}

// publishDetection is the scheduler's PublishFunc: it records the
// result's stage latencies and gate decisions, feeds the stream's tracker
// (which sets the sources' track_id, so first) and hands the payload to
// the current publisher. It never blocks.
func (d *Daemon) publishDetection(stream string, seq uint64, det *gar.Detection) {
	observeDetection(d.metrics, det)
	d.tracks.Window(det)
	payload, err := json.Marshal(det)
	if err != nil {
		// gar builds payloads of plain values; this is a bug, logged so
		// it is seen, and the window is lost.
		d.log.Error("cannot encode a detection", "stream", stream, "seq", seq, "error", err)
		return
	}
	d.pub.Load().Detection(stream, seq, payload)
	if d.view != nil {
		d.view.Detection(stream, seq, payload)
	}
}

// observeDetection feeds the GAR metrics from a result of any status: each
// stage's latency (a failed window's stages count too: leaving them out
// would hide the slow ones) and each source's gate decision.
func observeDetection(m *metrics.Metrics, det *gar.Detection) {
	for stage, ms := range map[string]int64{
		"locate": det.LatencyMS.Locate, "audio": det.LatencyMS.Audio,
		"analysis": det.LatencyMS.Analysis, "refine": det.LatencyMS.Refine,
	} {
		if ms > 0 {
			m.StageLatency(stage, msDuration(ms))
		}
	}
	for _, s := range det.Sources {
		if s.Gate == nil {
			continue
		}
		if s.Gate.SkipRefine {
			m.Gate(metrics.GateSkipped)
		} else {
			m.Gate(metrics.GateRefined)
		}
	}
}

// commandBox holds the set commands the publisher received and the owner
// loop has not applied yet: the latest per stream. put never blocks, so
// the publisher's command goroutine never waits for the owner loop (which
// may be waiting for the publisher).
type commandBox struct {
	wake    chan struct{}
	mu      sync.Mutex
	pending map[string]bool
	order   []string
}

// put records a command; it is publish.Options.OnSet.
func (b *commandBox) put(stream string, enabled bool) {
	b.mu.Lock()
	if b.pending == nil {
		b.pending = make(map[string]bool)
	}
	if _, seen := b.pending[stream]; !seen {
		b.order = append(b.order, stream)
	}
	b.pending[stream] = enabled
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// take returns the pending commands in arrival order and forgets them.
func (b *commandBox) take() (streams []string, enabled map[string]bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	streams, enabled = b.order, b.pending
	b.order, b.pending = nil, nil
	return streams, enabled
}

// applyCommands pauses or resumes streams as set commands asked. Pausing
// stops the capture (the camera, decoder and model are left alone) and the
// scheduler drops what the stream had queued, counted as paused; windows
// already at the model finish and are published. Resuming starts a new
// capture session; seq numbers go on.
func (d *Daemon) applyCommands() {
	streams, enabled := d.commands.take()
	for _, name := range streams {
		on := enabled[name]
		if run, ok := d.streams[name]; ok && run.enabled == on {
			continue
		}
		if err := d.setEnabled(name, on); err != nil {
			d.log.Warn("set command not applied", "stream", name, "enabled", on, "error", err)
			continue
		}
		d.metrics.MQTT().CommandChanged()
		// The publisher logs the commands received, one line per stream
		// per 10 s; a flood must not turn into a line per change.
		d.log.Debug("set command applied", "stream", name, "enabled", on)
	}
}

func msDuration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }
