package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/garssl/garssld/config"
	"github.com/garssl/garssld/health"
	"github.com/garssl/garssld/metrics"
	"github.com/garssl/garssld/publish"
	"github.com/garssl/garssld/schedule"
	"github.com/garssl/garssld/sdnotify"
	"github.com/garssl/garssld/track"
	"github.com/garssl/garssld/view"
	"github.com/garssl/garssld/windowing"
)

// Options configure a Daemon.
type Options struct {
	// Config is the loaded configuration; it must pass ValidateForRun.
	Config *config.Config
	// Load reads the configuration again when SIGHUP arrives. A config it
	// refuses (or one New could not build from) is logged and the running
	// one kept. Nil makes SIGHUP log that reloading is not possible.
	Load func() (*config.Config, error)
	// Logger is the root logger; its level follows log.level on reload.
	Logger hclog.Logger
	// Signals delivers SIGHUP (reload), SIGTERM and SIGINT (stop) to the
	// owner loop. Nil: only the context stops the daemon.
	Signals <-chan os.Signal
	// Version is garssld's version, published in the MQTT status and
	// exported in garssl_build_info; FFmpeg names the linked libraries.
	Version, FFmpeg string
	// Systemd receives sd_notify messages and says whether systemd runs a
	// watchdog; nil is the real systemd (nothing outside it).
	Systemd sdnotify.Client

	test testHooks
}

// testHooks are seams for this package's tests; zero in production.
type testHooks struct {
	// sinkHook runs at the start of every watched capture call.
	sinkHook func(stream string)
	// wrapScheduleObserver wraps the metrics as the scheduler's observer.
	wrapScheduleObserver func(schedule.Observer) schedule.Observer
	// sinkCallLimit, stallSlack and captureStopLimit replace the stream
	// supervisor's limits.
	sinkCallLimit, stallSlack, captureStopLimit time.Duration
	// extendBy replaces extendTimeoutBy.
	extendBy time.Duration
	// onTask sees every task the daemon starts.
	onTask func(*task)
	// publisherBeat runs before each of the publisher loop's beats (tests
	// make the loop hang in it).
	publisherBeat func()
	// tracksBeat does the same for the tracks task's loop.
	tracksBeat func()
}

// ConfigError is a problem in the configuration that the user must fix,
// found while building components from it (a TLS key pair that does not
// parse, a secret file that cannot be read). `garssld run` exits with
// status 2 for it, which systemd does not restart.
type ConfigError struct{ Err error }

func (e ConfigError) Error() string { return e.Err.Error() }
func (e ConfigError) Unwrap() error { return e.Err }

// Daemon is `garssld run`: one owner loop holding the config and every
// component. Create it with New, then call Run once.
type Daemon struct {
	opts    Options
	log     hclog.Logger
	runID   string
	cfg     *config.Config // the running config; owner loop only
	secrets secrets        // of cfg, to notice rotated secret files
	metrics *metrics.Metrics
	reg     *prometheus.Registry
	notify  *sdnotify.Notifier
	wd      *sdnotify.Watchdog
	owner   *sdnotify.Heartbeat
	beat    time.Duration

	// Components a reload may replace. The owner loop swaps them; other
	// goroutines (callbacks, HTTP handlers) read them.
	pub   atomic.Pointer[publish.Publisher]
	sched atomic.Pointer[schedule.Scheduler]
	watch atomic.Pointer[health.ModelWatch]
	http  *health.Server
	// view is the live view, nil when http.view is off. Built once: its
	// settings change at the next start, its listener (and auth) at a
	// reload.
	view     *view.View
	viewTask *task

	// Tasks, started and stopped by the owner loop.
	base                      context.Context // outlives Run's context: the owner stops tasks in order
	poke                      chan struct{}   // a task ended by itself
	httpTask, pubTask, wdTask *task
	tracksTask                *task           // ticks the trackers
	tracks                    *track.Registry // one tracker per stream
	pubBeat                   *loopBeat       // the running publisher's heartbeat
	analysis                  *analysis
	retired                   []*analysis // replaced by a reload, finishing their windows
	stopping                  atomic.Bool
	stateSeq                  atomic.Uint64 // numbers every stream's state changes
	commands                  commandBox
	streamsMu                 sync.Mutex // guards streams for readers off the owner loop
	streams                   map[string]*streamRun
	streamOrder               []string // config order
	httpAddrMu                sync.Mutex
	httpAddr                  net.Addr
}

// streamRun is one running stream: its supervisor, the task running it,
// and whether it should capture (the config's enabled, then set commands).
type streamRun struct {
	sup     *supervisor
	task    *task
	enabled bool
}

// New builds every component from opts.Config and binds the HTTP
// listener, so that a config the components refuse (ConfigError) or a
// port in use is reported before anything runs. Nothing runs until Run;
// call Run once, even if only to release the listener with a cancelled
// context.
func New(opts Options) (*Daemon, error) {
	if opts.Config == nil {
		return nil, errors.New("daemon: no config")
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	cfg := opts.Config
	d := &Daemon{
		opts:    opts,
		log:     opts.Logger,
		runID:   ulid.Make().String(),
		cfg:     cfg,
		secrets: secretsOf(cfg),
		notify:  sdnotify.NewNotifier(opts.Systemd),
		poke:    make(chan struct{}, 1),
		streams: make(map[string]*streamRun),
	}
	d.commands.wake = make(chan struct{}, 1)
	d.tracks = track.NewRegistry(trackSink{d}, track.NewULIDSource())
	var err error
	d.reg = prometheus.NewRegistry()
	d.metrics, err = metrics.New(d.reg, metrics.Options{Version: opts.Version, FFmpeg: opts.FFmpeg, Streams: d.snapshots})
	if err != nil {
		return nil, err
	}
	d.wd, err = sdnotify.NewWatchdog(sdnotify.WatchdogConfig{Client: opts.Systemd, Logger: d.log.Named("watchdog")})
	if err != nil {
		return nil, err
	}
	d.beat = d.wd.BeatEvery()

	if cfg.HTTP.View {
		// Before the analysis: its scheduler hands the view the media.
		if d.view, err = d.buildView(cfg); err != nil {
			return nil, err
		}
	}
	an, err := d.buildAnalysis(cfg)
	if err != nil {
		return nil, err
	}
	d.analysis = an
	// Readiness reads these from the first request on.
	d.watch.Store(an.watch)
	d.sched.Store(an.sched)
	pub, pubBeat, err := d.buildPublisher(cfg)
	if err != nil {
		an.client.CloseIdleConnections()
		return nil, err
	}
	d.pub.Store(pub)
	d.pubBeat = pubBeat
	srv, err := d.listen(cfg)
	if err != nil {
		an.client.CloseIdleConnections()
		return nil, err
	}
	d.setHTTP(srv)
	return d, nil
}

// RunID is the run_id of every detection this daemon publishes.
func (d *Daemon) RunID() string { return d.runID }

// HTTPAddr is the address /metrics, /healthz and /readyz are served on
// (the real port when http.listen gave port 0).
func (d *Daemon) HTTPAddr() net.Addr {
	d.httpAddrMu.Lock()
	defer d.httpAddrMu.Unlock()
	return d.httpAddr
}

func (d *Daemon) setHTTP(srv *health.Server) {
	d.http = srv
	d.httpAddrMu.Lock()
	d.httpAddr = srv.Addr()
	d.httpAddrMu.Unlock()
}

// Run starts the components and the streams, tells systemd it is ready,
// and runs the owner loop until ctx ends, SIGTERM or SIGINT arrives, or a
// component fails. Then it shuts down in order (see the package doc) and
// returns nil, or the failure.
func (d *Daemon) Run(ctx context.Context) error {
	// The owner stops every task itself, in order; Run's context ending is
	// only the signal to do so.
	d.base = context.WithoutCancel(ctx)
	d.owner = d.wd.Register("owner")
	d.wdTask = d.startTask("systemd watchdog", nil, d.poke, d.wd.Run)
	srv := d.http
	d.httpTask = d.startTask("http", nil, d.poke, srv.Run)
	if d.view != nil {
		d.viewTask = d.startTask("view", nil, nil, d.view.Run)
	}
	pub, pubBeat := d.pub.Load(), d.pubBeat
	d.pubTask = d.startTask("mqtt", pubBeat, d.poke, func(ctx context.Context) error {
		pubBeat.register()
		return pub.Run(ctx)
	})
	tracksBeat := newLoopBeat(d.wd, "tracks").register()
	beatTracks := tracksBeat.Beat
	if hook := d.opts.test.tracksBeat; hook != nil {
		beatTracks = func() { hook(); tracksBeat.Beat() }
	}
	d.tracksTask = d.startTask("tracks", tracksBeat, d.poke, func(ctx context.Context) error {
		return d.tickTracks(ctx, beatTracks)
	})
	d.startAnalysis(d.analysis)
	for _, s := range d.cfg.Streams {
		d.startStream(s, streamCarry{}, s.Enabled)
	}
	pub.SetStreams(d.streamNames())

	status := fmt.Sprintf("%d streams; http on %s; mqtt %s", len(d.cfg.Streams), d.HTTPAddr(), d.cfg.MQTT.Broker)
	d.log.Info("garssld is running", "run_id", d.runID, "streams", len(d.cfg.Streams), "http", d.HTTPAddr().String(),
		"mqtt", d.cfg.MQTT.Broker, "model", strings.Join(d.cfg.MLLM.Endpoints, ","))
	if err := d.notify.Ready(status); err != nil {
		d.log.Warn("cannot tell systemd that garssld is ready", "error", err)
	}

	err := d.loop(ctx)
	d.shutdown()
	return err
}

// loop is the owner loop: signals, MQTT commands, failed components and
// the owner's heartbeat arrive in one select.
func (d *Daemon) loop(ctx context.Context) error {
	tick := time.NewTicker(d.beat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			d.log.Info("stopping", "reason", "context ended")
			return nil
		case sig := <-d.opts.Signals:
			switch sig {
			case syscall.SIGHUP:
				d.reload()
			case syscall.SIGTERM, syscall.SIGINT:
				d.log.Info("stopping", "signal", sig.String())
				return nil
			}
		case <-d.commands.wake:
			d.applyCommands()
		case <-d.poke:
			if err := d.failedTask(); err != nil {
				d.log.Error("a component failed; stopping", "error", err)
				return err
			}
		case <-tick.C:
			d.owner.Beat()
			d.reapRetired()
		}
	}
}

// failedTask returns the error of a component that ended by itself.
func (d *Daemon) failedTask() error {
	for _, t := range []*task{d.httpTask, d.pubTask, d.wdTask, d.analysis.task} {
		if ended, err := t.ended(); ended {
			if err == nil {
				err = fmt.Errorf("%s ended unexpectedly", t.name)
			}
			return err
		}
	}
	return nil
}

// shutdown stops everything in dependency order: capture first, so no new
// windows come; then the scheduler, whose windows at the model get
// shutdown_timeout to finish and be published; then the publisher, which
// publishes the stream states and "stopped" and flushes; then HTTP and the
// watchdog.
func (d *Daemon) shutdown() {
	d.stopping.Store(true)
	if err := d.notify.Stopping("stopping"); err != nil {
		d.log.Warn("cannot tell systemd that garssld is stopping", "error", err)
	}
	stopExtending := d.extendStopTimeout()
	defer stopExtending()
	d.log.Info("stopping streams")
	for _, name := range d.streamOrder {
		d.streams[name].task.cancel()
	}
	for _, name := range slices.Clone(d.streamOrder) {
		d.stopStream(name)
	}
	d.log.Info("finishing windows at the model", "shutdown_timeout", d.cfg.ShutdownTimeout.String())
	d.stopAnalysis(d.analysis)
	for _, an := range d.retired {
		d.stopAnalysis(an)
	}
	d.retired = nil
	// Every window that will be published has been: the open tracks end,
	// and the lists are emptied, before the publisher's final flush
	// carries them out.
	d.awaitTask(d.tracksTask)
	d.tracks.StopAll(time.Now())
	d.log.Info("flushing MQTT")
	d.awaitTask(d.pubTask)
	d.owner.Unregister()
	if d.viewTask != nil {
		// The pages see the last detections and that garssld stops; then
		// their streams end, so the HTTP shutdown does not wait for them.
		d.awaitTask(d.viewTask)
	}
	d.awaitTask(d.httpTask)
	d.awaitTask(d.wdTask)
	d.log.Info("garssld stopped")
}

// Asking systemd for time while a stop drains. TimeoutStopSec= (30 s in
// the shipped unit) may be shorter than a drain that shutdown_timeout
// allows (up to 5 min), and a drop-in may change it where `check` cannot
// see; so every stop asks, whatever the unit says.
const (
	// extendTimeoutBy is what each EXTEND_TIMEOUT_USEC asks for; one is
	// sent every third of it, so one late message does not let the
	// timeout lapse.
	extendTimeoutBy = 15 * time.Second
	// stopSlack covers what the stop budget does not itemise: the HTTP
	// listener's drain (5 s) and the goroutines' scheduling.
	stopSlack = 10 * time.Second
)

// stopBudget is the longest a stop may take when every bound holds: the
// captures stopping (abandoned past captureStopLimit), the windows at the
// model (shutdown_timeout), the MQTT flush, and stopSlack. A step added
// to the stop (closing live-view clients) adds its bound here; the track
// end events are queued without waiting and go out in the MQTT flush.
func (d *Daemon) stopBudget() time.Duration {
	limit := cmp.Or(d.opts.test.captureStopLimit, captureStopLimit)
	return limit + d.cfg.ShutdownTimeout + publish.DefaultFlushTimeout + stopSlack
}

// extendStopTimeout sends EXTEND_TIMEOUT_USEC while the stop drains, for
// stopBudget at most, so that systemd still kills a stop that hangs past
// every bound; the returned func ends it and waits.
func (d *Daemon) extendStopTimeout() (stop func()) {
	by := cmp.Or(d.opts.test.extendBy, extendTimeoutBy)
	ext := sdnotify.Extending{By: by, Every: by / 3, Until: time.Now().Add(d.stopBudget())}
	ctx, cancel := context.WithCancel(d.base)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.notify.Extend(ctx, ext); err != nil {
			d.log.Warn("cannot ask systemd for more time to stop", "error", err)
		}
	}()
	return func() { cancel(); <-done }
}

// awaitTask stops t and waits for it, beating the owner's heartbeat
// meanwhile; an error is logged.
func (d *Daemon) awaitTask(t *task) {
	t.cancel()
	d.await(t.done)
	if t.err != nil {
		d.log.Warn("component ended with an error", "component", t.name, "error", t.err)
	}
}

// await waits for done, beating the owner's heartbeat: a wait that ends
// is progress.
func (d *Daemon) await(done <-chan struct{}) {
	tick := time.NewTicker(d.beat)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			d.owner.Beat()
		}
	}
}

// during runs fn on a goroutine and waits for it as await does.
func (d *Daemon) during(fn func()) {
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	d.await(done)
}

// streamNames lists the configured streams in config order.
func (d *Daemon) streamNames() []string { return slices.Clone(d.streamOrder) }

// startStream starts a supervisor for s, adds it to the scheduler, and
// registers its heartbeat. enabled false starts it paused.
func (d *Daemon) startStream(s config.Stream, carry streamCarry, enabled bool) {
	log := streamLog(d.log, s.Name)
	d.metrics.AddStream(s.Name) // a stream removed by an earlier reload may come back
	// Before the capture starts: the empty list precedes the first window.
	d.tracks.Configure(s.Name, trackSettings(d.cfg, s), time.Now())
	beat := newLoopBeat(d.wd, "stream "+s.Name).register()
	sup := newSupervisor(s, streamEnv{
		log:           log,
		modelSize:     d.cfg.GAR.ModelSize,
		frames:        d.view != nil,
		submit:        d.submit,
		onState:       d.onState,
		stateSeq:      func() uint64 { return d.stateSeq.Add(1) },
		heartbeat:     beat,
		beatEvery:     d.beat,
		sinkHook:      d.opts.test.sinkHook,
		sinkCallLimit: d.opts.test.sinkCallLimit,
		stallSlack:    d.opts.test.stallSlack,
		stopLimit:     d.opts.test.captureStopLimit,
	}, carry, enabled)
	sched := d.sched.Load()
	if err := d.schedule(sched, s); err != nil {
		// Streams are validated at load and removed before they are added
		// again: this is a bug, not an input problem.
		d.log.Error("cannot schedule the stream", "stream", s.Name, "error", err)
	}
	if !enabled {
		_ = sched.Pause(s.Name)
	}
	run := &streamRun{sup: sup, enabled: enabled, task: d.startTask("stream "+s.Name, beat, nil, sup.run)}
	d.streamsMu.Lock()
	d.streams[s.Name] = run
	d.streamOrder = append(d.streamOrder, s.Name)
	d.streamsMu.Unlock()
}

// stopStream stops a stream's capture, removes it from the scheduler
// (its queued windows are dropped, those at the model cancelled, counted
// as removed) and returns what a successor carries over.
func (d *Daemon) stopStream(name string) streamCarry {
	run := d.streams[name]
	d.awaitTask(run.task)
	d.streamsMu.Lock()
	delete(d.streams, name)
	d.streamOrder = slices.DeleteFunc(d.streamOrder, func(n string) bool { return n == name })
	d.streamsMu.Unlock()
	if !d.stopping.Load() {
		d.during(func() {
			ctx, cancel := context.WithTimeout(d.base, removeTimeout)
			defer cancel()
			if err := d.sched.Load().Remove(ctx, name); err != nil && !errors.Is(err, schedule.ErrUnknownStream) {
				d.log.Warn("stream removed while windows still end", "stream", name, "error", err)
			}
		})
	}
	return run.sup.carried()
}

// removeTimeout bounds waiting for a removed stream's cancelled windows;
// they end on their own after it, and the scheduler waits for them.
const removeTimeout = 10 * time.Second

// submit hands a window to the current scheduler. A window refused
// because its stream is being replaced is counted by the scheduler.
func (d *Daemon) submit(w windowing.Window) {
	if err := d.sched.Load().Submit(w); err != nil {
		d.log.Debug("window not scheduled", "stream", w.Stream, "seq", w.Seq, "error", err)
	}
}

// onState passes a stream's state change to the publisher, which keeps the
// highest seq. Called from capture's goroutines; must not block.
func (d *Daemon) onState(stream, state, errText string, seq uint64) {
	d.pub.Load().StreamState(stream, state, errText, seq)
	if d.view != nil {
		d.view.StreamState(stream, seq, publish.StatePayload(state, errText))
	}
}
