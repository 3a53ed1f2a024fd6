package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/config"
	"github.com/garssl/garssld/health"
	"github.com/garssl/garssld/publish"
	"github.com/garssl/garssld/track"
)

// changes is what differs between the running config and a reloaded one.
type changes struct {
	analysis bool // mllm, gar or shutdown_timeout: new model client and scheduler
	mqtt     bool // a new publisher
	http     bool // a new listener
	level    bool // log.level, applied in place
	format   bool // log.format, which needs a restart
	// Streams by name, in the new config's order for started ones.
	removed, restarted, added []string
	toggled                   []string // only enabled changed
}

func (c changes) empty() bool {
	return !c.analysis && !c.mqtt && !c.http && !c.level && !c.format &&
		len(c.removed)+len(c.restarted)+len(c.added)+len(c.toggled) == 0
}

// diff compares the running config with a new one. A stream restarts when
// anything of its block but enabled changed, or the model size its
// pictures are cut to. A section whose secret files (the API key, the
// MQTT password, TLS files) changed content counts as changed, so that a
// rotated secret is applied by a reload.
func diff(cur, next *config.Config, curSecrets, nextSecrets secrets) changes {
	var c changes
	c.analysis = !reflect.DeepEqual(cur.MLLM, next.MLLM) || !reflect.DeepEqual(cur.GAR, next.GAR) ||
		cur.ShutdownTimeout != next.ShutdownTimeout || curSecrets.mllm != nextSecrets.mllm
	c.mqtt = !reflect.DeepEqual(cur.MQTT, next.MQTT) || curSecrets.mqtt != nextSecrets.mqtt
	c.http = cur.HTTP != next.HTTP || curSecrets.http != nextSecrets.http
	c.level = cur.Log.Level != next.Log.Level
	c.format = cur.Log.Format != next.Log.Format
	old := make(map[string]config.Stream, len(cur.Streams))
	for _, s := range cur.Streams {
		old[s.Name] = s
	}
	for _, s := range next.Streams {
		o, ok := old[s.Name]
		delete(old, s.Name)
		switch {
		case !ok:
			c.added = append(c.added, s.Name)
		case cur.GAR.ModelSize != next.GAR.ModelSize || !sameStream(o, s):
			c.restarted = append(c.restarted, s.Name)
		case o.Enabled != s.Enabled:
			c.toggled = append(c.toggled, s.Name)
		}
	}
	for _, s := range cur.Streams {
		if _, gone := old[s.Name]; gone {
			c.removed = append(c.removed, s.Name)
		}
	}
	return c
}

func sameStream(a, b config.Stream) bool {
	a.Enabled = b.Enabled
	return reflect.DeepEqual(a, b)
}

// errNeedsRestart marks a reload refused because a setting cannot change
// while garssld runs.
var errNeedsRestart = errors.New("restart garssld to apply it (systemctl restart garssld)")

// reload handles SIGHUP: load and check the file, build what changed, and
// only then swap it in; anything that fails leaves the running config and
// components as they were.
func (d *Daemon) reload() {
	if err := d.notify.Reloading("reloading the config"); err != nil {
		d.log.Warn("cannot tell systemd about the reload", "error", err)
	}
	status := "reloaded"
	if err := d.reloadConfig(); err != nil {
		d.log.Error("config reload refused; garssld keeps running with the previous config", "error", err)
		status = "config reload refused; running with the previous config"
	}
	if err := d.notify.Ready(status); err != nil {
		d.log.Warn("cannot tell systemd that the reload ended", "error", err)
	}
}

func (d *Daemon) reloadConfig() error {
	if d.opts.Load == nil {
		return errors.New("this daemon was started without a config file to read again")
	}
	next, err := d.opts.Load()
	if err != nil {
		return err
	}
	cur := d.cfg
	if next.NodeID != cur.NodeID {
		return fmt.Errorf("node_id changed from %q to %q: it names every topic, request id and the MQTT client id; %w", cur.NodeID, next.NodeID, errNeedsRestart)
	}
	nextSecrets := secretsOf(next)
	ch := diff(cur, next, d.secrets, nextSecrets)
	if ch.empty() {
		d.log.Info("config reloaded; nothing changed")
		return nil
	}

	// Build everything new first: a failure here changes nothing.
	var (
		an      *analysis
		pub     *publish.Publisher
		pubBeat *loopBeat
		srv     *health.Server
	)
	if ch.analysis {
		if an, err = d.buildAnalysis(next); err != nil {
			return err
		}
	}
	if ch.mqtt {
		if pub, pubBeat, err = d.buildPublisher(next); err != nil {
			if an != nil {
				an.client.CloseIdleConnections()
			}
			return err
		}
	}
	if ch.http {
		if srv, err = d.listen(next); err != nil {
			if an != nil {
				an.client.CloseIdleConnections()
			}
			return err
		}
	}

	if ch.format {
		d.log.Warn("log.format changes at the next restart", "running", cur.Log.Format, "configured", next.Log.Format)
		next.Log.Format = cur.Log.Format
	}
	if ch.level {
		d.log.SetLevel(hclog.LevelFromString(next.Log.Level))
	}
	if h, n := cur.HTTP, next.HTTP; (n.View && d.view == nil) || (d.view != nil && (h.ViewWindows != n.ViewWindows || h.MaxViewers != n.MaxViewers)) {
		// The view's ring and hub are built once; turning it off applies
		// at once (the new listener serves no page).
		d.log.Warn("http.view turned on, http.view_windows and http.max_viewers apply at the next restart")
	}
	d.cfg, d.secrets = next, nextSecrets
	d.applyStreams(cur, ch, an)
	if pub != nil {
		d.swapPublisher(pub, pubBeat)
	}
	d.pub.Load().SetStreams(d.streamNames())
	if d.view != nil {
		d.view.ForgetStreams(d.streamNames())
	}
	if srv != nil {
		d.swapHTTP(srv)
	}
	d.log.Info("config reloaded", "model_and_scheduler", ch.analysis, "mqtt", ch.mqtt, "http", ch.http,
		"streams_added", ch.added, "streams_removed", ch.removed, "streams_restarted", ch.restarted)
	return nil
}

// applyStreams stops removed and changed streams, swaps in a new analysis
// if there is one, and starts changed and added streams, in the config's
// order. Untouched streams keep capturing throughout.
func (d *Daemon) applyStreams(cur *config.Config, ch changes, an *analysis) {
	type restart struct {
		carry   streamCarry
		enabled bool
	}
	carried := map[string]restart{}
	for _, name := range ch.removed {
		d.stopStream(name)
		d.tracks.Remove(name, time.Now())
		d.metrics.ForgetStream(name)
		d.log.Info("stream removed", "stream", name)
	}
	byName := map[string]config.Stream{}
	for _, s := range d.cfg.Streams {
		byName[s.Name] = s
	}
	for _, name := range ch.restarted {
		// A stream paused or resumed over MQTT stays so, unless the
		// reload changed its enabled too.
		enabled := d.streams[name].enabled
		if i := slices.IndexFunc(cur.Streams, func(s config.Stream) bool { return s.Name == name }); cur.Streams[i].Enabled != byName[name].Enabled {
			enabled = byName[name].Enabled
		}
		carried[name] = restart{d.stopStream(name), enabled}
	}
	if an != nil {
		// The streams that go on are known to the new scheduler before it
		// takes any window.
		for _, name := range d.streamOrder {
			run := d.streams[name]
			if err := d.schedule(an.sched, byName[name]); err != nil {
				d.log.Error("cannot schedule the stream", "stream", name, "error", err)
			}
			if !run.enabled {
				_ = an.sched.Pause(name)
			}
		}
		old := d.analysis
		// Its heartbeat ends now rather than at the cancel below, so that
		// its successor's is named "scheduler" again, not "scheduler #2".
		old.task.beat.unregister()
		d.analysis = an
		d.startAnalysis(an)
		// What the streams that go on have queued moves to the new
		// scheduler rather than being dropped with the old one.
		for _, name := range d.streamOrder {
			an.sched.Adopt(old.sched.Handover(name))
		}
		// The old scheduler finishes the windows it started, within
		// shutdown_timeout, and publishes them; the owner reaps it.
		old.task.cancel()
		d.retired = append(d.retired, old)
		d.log.Info("model client and scheduler replaced; the previous one finishes its windows", "shutdown_timeout", d.cfg.ShutdownTimeout.String())
	}
	for _, name := range ch.toggled {
		if err := d.setEnabled(name, byName[name].Enabled); err != nil {
			d.log.Error("cannot apply the stream's enabled", "stream", name, "error", err)
		}
	}
	for _, s := range d.cfg.Streams {
		if r, ok := carried[s.Name]; ok {
			d.startStream(s, r.carry, r.enabled)
			d.log.Info("stream restarted with its new settings", "stream", s.Name)
		} else if slices.Contains(ch.added, s.Name) {
			d.startStream(s, streamCarry{}, s.Enabled)
			d.log.Info("stream added", "stream", s.Name)
		}
	}
	// A changed tracking block (or geometry) restarts the stream's tracks
	// even when the stream itself goes on.
	for _, s := range d.cfg.Streams {
		d.tracks.Configure(s.Name, trackSettings(d.cfg, s), time.Now())
	}
	// Keep the config's order for listings.
	d.streamsMu.Lock()
	order := make([]string, 0, len(d.cfg.Streams))
	for _, s := range d.cfg.Streams {
		order = append(order, s.Name)
	}
	d.streamOrder = order
	d.streamsMu.Unlock()
}

// setEnabled pauses or resumes a stream: the scheduler first (a pause
// drops what is queued, counted as paused), then the capture.
func (d *Daemon) setEnabled(name string, on bool) error {
	run, ok := d.streams[name]
	if !ok {
		return fmt.Errorf("stream %q is not running", name)
	}
	if on == run.enabled {
		return nil
	}
	sched := d.sched.Load()
	var err error
	if on {
		err = sched.Resume(name)
	} else {
		err = sched.Pause(name)
	}
	if err != nil {
		return err
	}
	run.enabled = on
	run.sup.setEnabled(on)
	if !on {
		// A paused stream's tracks end now, not after lost_after: a pause
		// must not leave an event open (frigate#3022).
		d.tracks.EndAll(name, track.ReasonPaused, time.Now())
	}
	return nil
}

// swapPublisher makes pub the publisher. The old one stops (publishing
// "stopped" and flushing what it holds) before the new one connects: they
// share the client id and the file store, whose unacknowledged messages
// the new one sends. Detections meanwhile wait in the new one's queue.
func (d *Daemon) swapPublisher(pub *publish.Publisher, beat *loopBeat) {
	d.pub.Store(pub)
	for _, run := range d.runningStreams() {
		state, errText, seq := run.sup.status()
		pub.StreamState(run.sup.cfg.Name, state, errText, seq)
	}
	d.tracks.Republish()
	old := d.pubTask
	old.cancel()
	log := d.log
	d.pubBeat = beat
	d.pubTask = d.startTask("mqtt", beat, d.poke, func(ctx context.Context) error {
		<-old.done // this task owns the old one now
		if old.err != nil {
			log.Warn("the replaced MQTT publisher ended with an error", "error", old.err)
		}
		// Watched from when its loop runs; the old one's flush before
		// that is bounded by its flush timeout.
		beat.register()
		return pub.Run(ctx)
	})
}

// swapHTTP moves the endpoints to srv, already listening; requests in
// progress on the old listener finish first.
func (d *Daemon) swapHTTP(srv *health.Server) {
	old := d.httpTask
	d.setHTTP(srv)
	d.httpTask = d.startTask("http", nil, d.poke, srv.Run)
	d.awaitTask(old)
	d.log.Info("http endpoints moved", "http", srv.Addr().String())
}

// secrets are digests of the contents of the files the model client and
// the publisher read when they are built.
type secrets struct{ mllm, mqtt, http string }

func secretsOf(c *config.Config) secrets {
	s := secrets{mllm: fileDigest(c.MLLM.APIKeyFile), mqtt: fileDigest(c.MQTT.PasswordFile), http: fileDigest(c.HTTP.AuthFile)}
	if t := c.MQTT.TLS; t != nil {
		s.mqtt = fileDigest(c.MQTT.PasswordFile, t.CAFile, t.CertFile, t.KeyFile)
	}
	return s
}

// fileDigest hashes the named files' contents; a file that cannot be read
// hashes as its error, so that a change either way is noticed.
func fileDigest(paths ...string) string {
	h := sha256.New()
	for _, p := range paths {
		if p == "" {
			h.Write([]byte{0})
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			b = []byte(err.Error())
		}
		fmt.Fprintf(h, "%d:%s:%d:", len(p), p, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}
