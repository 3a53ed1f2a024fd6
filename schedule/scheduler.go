package schedule

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/gar/mllm"
	"github.com/garssl/garssld/windowing"
)

// Localizer runs the GAR loop of one window; *gar.Localizer is the real
// one. It must return soon after ctx ends.
type Localizer interface {
	Localize(ctx context.Context, in gar.Input) gar.Result
}

// LocalizerFunc adapts a function to Localizer.
type LocalizerFunc func(ctx context.Context, in gar.Input) gar.Result

// Localize implements Localizer.
func (f LocalizerFunc) Localize(ctx context.Context, in gar.Input) gar.Result { return f(ctx, in) }

// PublishFunc hands one detection to the publisher. It must not block: it
// is called from the goroutines that analyse windows and from Submit, and
// several calls may run at once. It may keep d. The scheduler calls it until
// Run returns (in-flight windows finish during shutdown), so the publisher
// must outlive Run.
type PublishFunc func(stream string, seq uint64, d *gar.Detection)

// Clock tells the time. Ages are differences of its readings, so the real
// clock's readings must carry Go's monotonic reading (time.Now does), as
// windowing.Window.WallEnd does.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Errors callers act on.
var (
	// ErrUnknownStream: no stream of that name was added, or it was removed.
	ErrUnknownStream = errors.New("unknown stream")
	// ErrStreamExists: Add was given a name already in use.
	ErrStreamExists = errors.New("stream already added")
	// ErrStopped: Run has ended (or is ending); the scheduler takes no more
	// streams or windows.
	ErrStopped = errors.New("scheduler stopped")
)

// Causes of a window's cancellation, told apart with context.Cause. A window
// cut short by its stale deadline needs none: its age at publish says it.
var (
	errRemoved  = errors.New("the stream was removed")
	errShutdown = errors.New("the scheduler stopped and the shutdown timeout passed")
)

// dropLogEvery folds a stream's drop log lines: at most one per period,
// carrying the count since the previous one.
const dropLogEvery = time.Minute

// Admission settings (see the package doc).
const (
	// floorEvery: a stream starts at least one window this often, even one
	// the service estimate calls too late, so that no stream starves and
	// the estimate learns when the model got faster.
	floorEvery = 30 * time.Second
	// holdGrace is how late after its cadence a stream's next window may
	// come and still have a slot held for it.
	holdGrace = 500 * time.Millisecond
	// A stream is degraded when this many windows in a row, or every window
	// over degradedAfterTime, were dropped for freshness.
	degradedAfterWindows = 10
	degradedAfterTime    = time.Minute
)

// Config sets up a Scheduler. Numbers are used as given; the daemon passes
// the values of its config.
type Config struct {
	// Node and RunID go into every payload; Node starts request ids.
	Node, RunID string
	// MaxWindows caps the windows analysed at once over all streams. Give
	// mllm.max_in_flight × the number of endpoints: every running window can
	// then have a request on the model, and windows that have not started
	// never compete with those that have.
	MaxWindows int
	// WindowDeadline bounds one window's GAR loop (mllm.window_deadline); a
	// window's deadline is the smaller of it and the time left until the
	// window turns its stream's StaleAfter old.
	WindowDeadline time.Duration
	// SilenceDBFS is gar.silence_dbfs: windows whose level is below it are
	// published as silent without calling the model.
	SilenceDBFS float64
	// ShutdownTimeout is how long running windows may go on after Run's
	// context ends before they are cancelled. 0 cancels them at once.
	ShutdownTimeout time.Duration
	// Clock measures ages; nil means time.Now.
	Clock Clock
	// Logger receives state changes (one line each) and, at debug level,
	// per-window decisions; nil discards.
	Logger hclog.Logger
	// Observer receives measurements; nil discards.
	Observer Observer
	// Published, when set, sees each window whose detection is about to
	// be published, just before PublishFunc: the live view keeps the
	// media of published windows only. It must not block or keep w.
	Published func(w *windowing.Window)
}

// StreamConfig is one stream as the scheduler sees it.
type StreamConfig struct {
	Name string
	// MaxQueue bounds the windows waiting for the model (stream max_queue);
	// the oldest is dropped when a new one arrives at a full queue.
	MaxQueue int
	// StaleAfter is the oldest a window may be when its analysis starts and
	// when its result is published (stream stale_after).
	StaleAfter time.Duration
	// HFOVDeg is the camera's horizontal field of view; 0 leaves bearing_deg
	// out of the payload.
	HFOVDeg float64
	// Direction finds the direction of arrival from the windows' array
	// audio; nil when the stream has no microphone array.
	Direction *gar.Direction
}

func (c StreamConfig) validate() error {
	switch {
	case c.Name == "":
		return errors.New("stream name is empty")
	case c.MaxQueue < 1:
		return fmt.Errorf("stream %q: max_queue %d must be at least 1", c.Name, c.MaxQueue)
	case c.StaleAfter <= 0:
		return fmt.Errorf("stream %q: stale_after %s must be positive", c.Name, c.StaleAfter)
	case c.HFOVDeg < 0 || c.HFOVDeg >= 180:
		return fmt.Errorf("stream %q: hfov_deg %v must lie in [0, 180)", c.Name, c.HFOVDeg)
	}
	return nil
}

type runState int

const (
	stateIdle     runState = iota // Run not called yet: windows queue
	stateRunning                  // windows are admitted
	stateStopping                 // Run's context ended: running windows finish
	stateStopped                  // Run returned
)

// Scheduler admits the windows of every stream to the GAR loop: bounded
// queues per stream, newest window first, only windows that can finish
// fresh, freshness deadlines, and turns across streams under a global cap.
// See the package doc for the policy. Its methods are safe for concurrent
// use.
type Scheduler struct {
	cfg     Config
	loc     Localizer
	publish PublishFunc
	obs     Observer
	clock   Clock
	log     hclog.Logger
	pings   chan chan struct{}

	mu      sync.Mutex
	state   runState
	streams map[string]*stream
	ring    []*stream // streams in the order they were added
	running int       // windows being analysed
	starts  uint64    // windows started so far, to order the claims
	est     serviceEstimate
	// wakeAt is when a held slot must be looked at again (zero: none);
	// Run's timer follows it, told by kick.
	wakeAt  time.Time
	kick    chan struct{}
	workCtx context.Context
	windows sync.WaitGroup // one per running window goroutine
}

// stream is one stream's queue and bookkeeping, guarded by Scheduler.mu.
type stream struct {
	cfg    StreamConfig
	log    hclog.Logger
	queue  []windowing.Window // oldest first, at most cfg.MaxQueue
	paused bool
	// busy counts windows taken from the queue and not yet finished:
	// running ones and silent ones being published.
	busy int
	jobs map[*job]struct{} // running windows, to cancel on Remove
	idle chan struct{}     // made by Remove while busy > 0; closed at 0

	dropsUnlogged int // drops since the last folded log line
	lastDropLog   time.Time

	// started orders the claims on a free slot: the stream that started a
	// window least recently comes first (Scheduler.starts at its last
	// start; 0 before its first).
	started uint64
	// floorFrom is when the stream last started a window, or was added:
	// floorEvery after it, the service estimate no longer holds it back.
	floorFrom time.Time
	// lastArrival and hop are the stream's cadence: when its last window
	// was submitted and how far apart its last two windows ended.
	lastArrival, lastEnd time.Time
	hop                  time.Duration
	lastSilent           bool // a silent stream needs no slot held

	// Freshness episode: windows dropped in a row for freshness since the
	// last one published, since when, and whether that made it degraded.
	freshDrops int
	freshSince time.Time
	degraded   bool
}

// job is one window being analysed.
type job struct {
	st     *stream
	w      windowing.Window
	ctx    context.Context
	cancel context.CancelCauseFunc // with errRemoved on Remove
	stop   context.CancelFunc      // releases the deadline's timer
	// forced: started by the floor although the estimate called it too late.
	forced bool
	began  time.Time
}

// New checks cfg and returns a Scheduler that runs windows through loc and
// hands results to publish. Nothing runs until Run.
func New(cfg Config, loc Localizer, publish PublishFunc) (*Scheduler, error) {
	switch {
	case cfg.Node == "" || cfg.RunID == "":
		return nil, errors.New("scheduler: node and run id must not be empty")
	case cfg.MaxWindows < 1:
		return nil, fmt.Errorf("scheduler: MaxWindows %d must be at least 1 (give mllm.max_in_flight × endpoints)", cfg.MaxWindows)
	case cfg.WindowDeadline <= 0:
		return nil, fmt.Errorf("scheduler: window deadline %s must be positive", cfg.WindowDeadline)
	case cfg.ShutdownTimeout < 0:
		return nil, fmt.Errorf("scheduler: shutdown timeout %s must not be negative", cfg.ShutdownTimeout)
	case loc == nil || publish == nil:
		return nil, errors.New("scheduler: a localizer and a publish function are required")
	}
	s := &Scheduler{
		cfg: cfg, loc: loc, publish: publish,
		obs: cfg.Observer, clock: cfg.Clock, log: cfg.Logger,
		pings:   make(chan chan struct{}),
		kick:    make(chan struct{}, 1),
		streams: make(map[string]*stream),
	}
	if s.obs == nil {
		s.obs = NopObserver{}
	}
	if s.clock == nil {
		s.clock = systemClock{}
	}
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	return s, nil
}

// Add starts scheduling a stream. Windows of a stream that was not added are
// refused by Submit.
func (s *Scheduler) Add(cfg StreamConfig) error {
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.state >= stateStopping:
		return fmt.Errorf("add stream %q: %w", cfg.Name, ErrStopped)
	case s.streams[cfg.Name] != nil:
		return fmt.Errorf("add stream %q: %w", cfg.Name, ErrStreamExists)
	}
	st := &stream{
		cfg:       cfg,
		log:       s.log.With("stream", cfg.Name),
		queue:     make([]windowing.Window, 0, cfg.MaxQueue+1),
		jobs:      make(map[*job]struct{}),
		floorFrom: s.clock.Now(),
	}
	s.streams[cfg.Name] = st
	s.ring = append(s.ring, st)
	s.obs.QueueDepth(cfg.Name, 0)
	return nil
}

// Remove stops scheduling a stream: its queued windows are dropped (reason
// removed), its running windows are cancelled and not published, and it
// returns once they have ended, so nothing more is published for the stream
// after Remove returns nil. If ctx ends first it returns ctx's error; the
// cancelled windows still end on their own, and Run waits for them. A
// stream of the same name may be added again at once.
func (s *Scheduler) Remove(ctx context.Context, name string) error {
	s.mu.Lock()
	st, err := s.streamLocked("remove", name)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	delete(s.streams, name)
	i := slices.Index(s.ring, st)
	s.ring = slices.Delete(s.ring, i, i+1)
	s.dropQueueLocked(st, DropRemoved)
	for j := range st.jobs {
		j.cancel(errRemoved)
	}
	var idle chan struct{}
	if st.busy > 0 {
		st.idle = make(chan struct{})
		idle = st.idle
	}
	st.log.Info("stream removed from scheduling", "cancelled", len(st.jobs))
	s.admitLocked() // a slot held for the stream's next window is free
	s.mu.Unlock()

	if idle == nil {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("remove stream %q: waiting for its running windows: %w", name, ctx.Err())
	}
}

// Pause stops taking a stream's windows: its queued windows and those
// submitted while it is paused are dropped (reason paused). A window already
// being analysed finishes and is published: it was captured while the
// stream was enabled, and its model time is spent. The daemon may also stop
// the capture upstream; either way every window is accounted for.
func (s *Scheduler) Pause(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.streamLocked("pause", name)
	if err != nil || st.paused {
		return err
	}
	st.paused = true
	s.dropQueueLocked(st, DropPaused)
	s.endEpisodeLocked(st, "paused")
	st.log.Info("stream paused")
	// A slot held for the paused stream's next window is free now.
	s.admitLocked()
	return nil
}

// Resume takes a paused stream's windows again.
func (s *Scheduler) Resume(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.streamLocked("resume", name)
	if err != nil || !st.paused {
		return err
	}
	st.paused = false
	st.log.Info("stream resumed")
	return nil
}

// streamLocked finds a stream for op, or says it is unknown.
func (s *Scheduler) streamLocked(op, name string) (*stream, error) {
	if st := s.streams[name]; st != nil {
		return st, nil
	}
	return nil, fmt.Errorf("%s stream %q: %w", op, name, ErrUnknownStream)
}

// Submit hands over one window of a stream; it never blocks on the model.
// A silent window is published before Submit returns (it needs no model);
// any other joins its stream's queue, pushing out the oldest when the queue
// is full, and starts at once when a slot is free and it is its stream's
// turn. Windows that are not taken are counted as dropped: those of a
// paused stream (nil error), of an unknown stream (ErrUnknownStream) and
// those that arrive once Run has ended (ErrStopped). Before Run, windows
// wait in their queue.
func (s *Scheduler) Submit(w windowing.Window) error {
	s.mu.Lock()
	st := s.streams[w.Stream]
	switch {
	case s.state >= stateStopping:
		s.dropLocked(w.Stream, st, w.Seq, DropShutdown)
		s.mu.Unlock()
		return fmt.Errorf("window %d of stream %q: %w", w.Seq, w.Stream, ErrStopped)
	case st == nil:
		s.dropLocked(w.Stream, nil, w.Seq, DropRemoved)
		s.mu.Unlock()
		return fmt.Errorf("window %d of stream %q: %w", w.Seq, w.Stream, ErrUnknownStream)
	case st.paused:
		s.dropLocked(w.Stream, st, w.Seq, DropPaused)
		s.mu.Unlock()
		return nil
	}
	silent := w.RMSDBFS < s.cfg.SilenceDBFS
	st.arrived(s.clock.Now(), w.WallEnd, silent)
	if silent {
		st.busy++
		// A slot held for this stream's window is not needed by it.
		s.admitLocked()
		s.mu.Unlock()
		s.finish(st, &w, gar.Result{Status: gar.StatusSilent}, 0, "", nil)
		return nil
	}
	st.queue = append(st.queue, w)
	s.boundQueueLocked(st)
	s.admitLocked()
	s.mu.Unlock()
	return nil
}

// Handover takes the named stream's queued windows out of s, uncounted,
// for its successor's Adopt: a reload that replaces the scheduler keeps
// what the streams that go on have already cut. It returns nil for an
// unknown stream.
func (s *Scheduler) Handover(name string) []windowing.Window {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[name]
	if st == nil || len(st.queue) == 0 {
		return nil
	}
	ws := st.queue
	st.queue = nil
	s.obs.QueueDepth(name, 0)
	return ws
}

// Adopt queues windows that another scheduler handed over, in seq order
// with any that arrived here meanwhile, under the same bound and drops as
// Submit: a window of an unknown or paused stream, or one beyond max_queue,
// is dropped and counted here.
func (s *Scheduler) Adopt(ws []windowing.Window) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range ws {
		st := s.streams[w.Stream]
		switch {
		case s.state >= stateStopping:
			s.dropLocked(w.Stream, st, w.Seq, DropShutdown)
			continue
		case st == nil:
			s.dropLocked(w.Stream, nil, w.Seq, DropRemoved)
			continue
		case st.paused:
			s.dropLocked(w.Stream, st, w.Seq, DropPaused)
			continue
		}
		i, _ := slices.BinarySearchFunc(st.queue, w.Seq, func(q windowing.Window, seq uint64) int { return cmp.Compare(q.Seq, seq) })
		st.queue = slices.Insert(st.queue, i, w)
		s.boundQueueLocked(st)
	}
	s.admitLocked()
}

// boundQueueLocked keeps st's queue within max_queue by dropping its
// oldest window (queue_full, or stale if it had turned stale).
func (s *Scheduler) boundQueueLocked(st *stream) {
	if len(st.queue) > st.cfg.MaxQueue {
		old := st.pop()
		reason := DropQueueFull
		if s.age(&old) > st.cfg.StaleAfter {
			reason = DropStale
		}
		s.dropLocked(st.cfg.Name, st, old.Seq, reason)
	}
	s.obs.QueueDepth(st.cfg.Name, len(st.queue))
}

// Run admits windows until ctx ends. Then it drops the queued windows
// (reason shutdown), lets running windows finish for up to
// Config.ShutdownTimeout, cancels the rest, and returns once every goroutine
// it started has ended. It returns nil after a shutdown and an error only
// when called twice.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.state != stateIdle {
		s.mu.Unlock()
		return errors.New("scheduler: Run called twice")
	}
	workCtx, stopWork := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopWork(nil)
	s.workCtx = workCtx
	s.state = stateRunning
	s.admitLocked()
	s.mu.Unlock()

	hold := time.NewTimer(time.Hour)
	hold.Stop()
	defer hold.Stop()
	for live := true; live; {
		select {
		case <-ctx.Done():
			live = false
		case reply := <-s.pings:
			s.mu.Lock() // a held lock is a hung scheduler: don't answer
			s.mu.Unlock()
			close(reply)
		case <-s.kick:
			s.mu.Lock()
			at, now := s.wakeAt, s.clock.Now()
			s.mu.Unlock()
			hold.Stop()
			if !at.IsZero() {
				hold.Reset(max(at.Sub(now), 0))
			}
		case <-hold.C:
			s.mu.Lock()
			s.wakeAt = time.Time{}
			s.admitLocked()
			s.mu.Unlock()
		}
	}

	s.mu.Lock()
	s.state = stateStopping
	for _, st := range s.ring {
		s.dropQueueLocked(st, DropShutdown)
	}
	runningAtStop := s.running
	s.mu.Unlock()

	done := make(chan struct{})
	go func() { s.windows.Wait(); close(done) }()
	timer := time.NewTimer(s.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		s.log.Info("shutdown timeout passed; cancelling running windows", "timeout", s.cfg.ShutdownTimeout)
		stopWork(errShutdown)
		<-done
	}
	s.mu.Lock()
	s.state = stateStopped
	s.mu.Unlock()
	s.log.Debug("scheduler stopped", "running_at_shutdown", runningAtStop)
	return nil
}

// Ping returns nil once Run's loop has answered while able to take the
// scheduler's lock: the daemon's watchdog calls it to learn that scheduling
// is not hung. It fails when ctx ends first, as it does when Run is not
// running.
func (s *Scheduler) Ping(ctx context.Context) error {
	reply := make(chan struct{})
	select {
	case s.pings <- reply:
	case <-ctx.Done():
		return fmt.Errorf("scheduler did not answer: %w", ctx.Err())
	}
	select {
	case <-reply:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("scheduler did not answer: %w", ctx.Err())
	}
}

// age is how old a window is now, on the monotonic clock when both readings
// carry it.
func (s *Scheduler) age(w *windowing.Window) time.Duration {
	return s.clock.Now().Sub(w.WallEnd)
}

// admitLocked starts queued windows while slots are free. Streams are asked
// in the order of their claims (the one that started a window least
// recently first); each offers its newest window that can still finish
// fresh. A stream with nothing to offer whose next window is due, and could
// not start in time otherwise, has a slot held for it. See the package doc.
func (s *Scheduler) admitLocked() {
	if s.state != stateRunning {
		return
	}
	now := s.clock.Now()
	est, known := s.est.value()
	var held int
	var wake time.Time
	// Passes until one starts nothing or no slot is left: a stream may
	// start several windows when slots are free (work-conserving), each
	// pass asking the streams in the order of their claims anew.
	for {
		held, wake = 0, time.Time{}
		started := false
		order := slices.Clone(s.ring)
		slices.SortStableFunc(order, func(a, b *stream) int { return cmp.Compare(a.started, b.started) })
		for _, st := range order {
			// Streams past the free slots still drop what can no longer
			// start, so that the queues hold only windows worth waiting for.
			free := s.cfg.MaxWindows - s.running - held
			if s.offerLocked(st, now, est, known, free) {
				started = true
				continue
			}
			if free <= 0 {
				continue
			}
			if due, ok := s.holdFor(st, now, est, known); ok {
				held++
				if wake.IsZero() || due.Before(wake) {
					wake = due
				}
			}
		}
		if !started || s.running+held >= s.cfg.MaxWindows {
			break
		}
	}
	if !wake.Equal(s.wakeAt) {
		s.wakeAt = wake
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// offerLocked drops st's queued windows that can no longer finish fresh
// (stale: past stale_after; too_late: less time left than the service
// estimate, unless the stream is due its floorEvery start) and, if a slot
// is free, starts the newest of the others, dropping the older ones it
// supersedes. It reports whether it started one.
func (s *Scheduler) offerLocked(st *stream, now time.Time, est time.Duration, known bool, free int) bool {
	if st.paused {
		return false
	}
	floor := now.Sub(st.floorFrom) >= floorEvery
	for len(st.queue) > 0 {
		last := len(st.queue) - 1
		w := st.queue[last]
		left := st.cfg.StaleAfter - now.Sub(w.WallEnd)
		switch {
		case left <= 0:
			s.dropQueueLocked(st, DropStale) // the older ones are staler
			return false
		case known && left < est && !floor:
			st.queue[last] = windowing.Window{}
			st.queue = st.queue[:last]
			s.obs.QueueDepth(st.cfg.Name, len(st.queue))
			s.dropLocked(st.cfg.Name, st, w.Seq, DropTooLate)
			continue
		case free <= 0:
			return false
		}
		st.queue[last] = windowing.Window{}
		st.queue = st.queue[:last]
		s.supersedeLocked(st, now, est, known, free > 1)
		s.startLocked(st, w, now, left, known && left < est)
		return true
	}
	return false
}

// supersedeLocked drops st's queued windows that a newer window overtakes
// (superseded): those that could not still finish fresh after it, having
// less than two service estimates left, or less than one when another slot
// is free now (spare), where they may start beside it. The others wait
// their turn, newest first; so do all of them before there is an estimate.
// A model that keeps up thus loses no window to a backlog (a reload, a
// stall).
func (s *Scheduler) supersedeLocked(st *stream, now time.Time, est time.Duration, known, spare bool) {
	if !known {
		return
	}
	need := 2 * est
	if spare {
		need = est
	}
	for len(st.queue) > 0 && st.cfg.StaleAfter-now.Sub(st.queue[0].WallEnd) < need {
		w := st.pop()
		s.dropLocked(st.cfg.Name, st, w.Seq, DropSuperseded)
	}
	s.obs.QueueDepth(st.cfg.Name, len(st.queue))
}

// holdFor reports whether a slot is held for st, and until when: its next
// window is due (from its cadence, at most holdGrace late), and neither a
// window started now nor a running one is expected to end before that
// window would be too late to start.
// Holding lets streams whose windows arrive in lockstep take turns: without
// it the stream whose window comes first takes every slot.
func (s *Scheduler) holdFor(st *stream, now time.Time, est time.Duration, known bool) (time.Time, bool) {
	if !known || st.paused || st.lastSilent || st.hop <= 0 || st.lastArrival.IsZero() {
		return time.Time{}, false
	}
	due := st.lastArrival.Add(st.hop)
	if now.After(due.Add(holdGrace)) {
		return time.Time{}, false // overdue: the stream stalled or was cut short
	}
	// The window's start-by time: its predecessor's arrival lag, then the
	// budget left after the estimate. None left: the window will not start
	// however long the slot waits.
	lag := st.lastArrival.Sub(st.lastEnd)
	startBy := due.Add(st.cfg.StaleAfter - est - lag)
	if !startBy.After(now) {
		return time.Time{}, false
	}
	// A window started now would end in time for it: nothing to hold for
	// (the model keeps up).
	if !now.Add(est).After(startBy) {
		return time.Time{}, false
	}
	for _, j := range s.jobsLocked() {
		if !j.began.Add(est).After(startBy) {
			return time.Time{}, false
		}
	}
	return due.Add(holdGrace), true
}

// jobsLocked lists every running window of every stream.
func (s *Scheduler) jobsLocked() []*job {
	var out []*job
	for _, st := range s.ring {
		for j := range st.jobs {
			out = append(out, j)
		}
	}
	return out
}

// startLocked starts analysing w of st, with left before it turns stale.
// forced marks a start the floor allowed against the estimate.
func (s *Scheduler) startLocked(st *stream, w windowing.Window, now time.Time, left time.Duration, forced bool) {
	ctx, cancel := context.WithCancelCause(s.workCtx)
	var stop context.CancelFunc
	limit := s.cfg.WindowDeadline
	if left < limit {
		// The window's freshness ends first: a cut says nothing about the
		// model server (mllm does not hold it against the endpoint).
		limit = left
		ctx, stop = context.WithDeadlineCause(ctx, time.Now().Add(left), mllm.ErrFreshness)
	} else {
		ctx, stop = context.WithTimeout(ctx, limit)
	}
	j := &job{st: st, w: w, ctx: ctx, cancel: cancel, stop: stop, forced: forced, began: now}
	st.jobs[j] = struct{}{}
	st.busy++
	s.starts++
	st.started, st.floorFrom = s.starts, now
	s.running++
	s.windows.Add(1)
	st.log.Debug("window started", "seq", w.Seq, "age", now.Sub(w.WallEnd), "deadline", limit, "forced", forced)
	go s.analyse(j)
}

// analyse runs one window through the GAR loop and delivers its result.
func (s *Scheduler) analyse(j *job) {
	defer s.windows.Done()
	res := s.loc.Localize(j.ctx, input(s.cfg.Node, &j.w, j.st.cfg))
	took := s.clock.Now().Sub(j.began)
	reason := ""
	switch cause := context.Cause(j.ctx); {
	case errors.Is(cause, errRemoved):
		reason = DropRemoved
	case errors.Is(cause, errShutdown):
		reason = DropShutdown
	}
	j.stop()
	j.cancel(nil)
	if res.Status != gar.StatusOK && reason == "" {
		j.st.log.Debug("window not localised", "seq", j.w.Seq, "status", res.Status, "error", res.Err)
	}
	s.finish(j.st, &j.w, res, took, reason, j)
}

// finish publishes a window's result, unless reason says why it is dropped
// or it has turned stale, and releases the stream's hold on it. j is the
// running window whose model slot is freed, nil for a silent window.
func (s *Scheduler) finish(st *stream, w *windowing.Window, res gar.Result, took time.Duration, reason string, j *job) {
	name := st.cfg.Name
	age := s.age(w)
	if reason == "" && age > st.cfg.StaleAfter {
		reason = DropStale
	}
	if reason == "" {
		d := detection(s.cfg.Node, s.cfg.RunID, w, res, age)
		s.obs.AgeAtPublish(name, age)
		s.obs.WindowDone(name, string(res.Status))
		if s.cfg.Published != nil {
			s.cfg.Published(w)
		}
		s.publish(name, w.Seq, d)
	}
	if j != nil {
		outcome := OutcomePublished
		if reason != "" {
			outcome = OutcomeDropped
		}
		s.obs.WindowAnalysed(name, outcome, took)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if reason != "" {
		s.dropLocked(name, st, w.Seq, reason)
	}
	if j != nil {
		s.learnLocked(j, took, reason)
		if reason == "" {
			s.endEpisodeLocked(st, "published")
		}
	}
	st.busy--
	if st.busy == 0 && st.idle != nil {
		close(st.idle)
		st.idle = nil
	}
	if j != nil {
		delete(st.jobs, j)
		s.running--
		s.admitLocked()
	}
}

// dropQueueLocked drops every queued window of st for reason.
func (s *Scheduler) dropQueueLocked(st *stream, reason string) {
	for len(st.queue) > 0 {
		w := st.pop()
		s.dropLocked(st.cfg.Name, st, w.Seq, reason)
	}
	s.obs.QueueDepth(st.cfg.Name, 0)
}

// dropLocked counts one dropped window. Drops for being too slow are logged
// folded, at most one line per stream per dropLogEvery; st is nil for a
// stream the scheduler does not know.
func (s *Scheduler) dropLocked(name string, st *stream, seq uint64, reason string) {
	s.obs.Dropped(name, reason)
	if st == nil {
		s.log.Debug("window dropped", "stream", name, "seq", seq, "reason", reason)
		return
	}
	st.log.Debug("window dropped", "seq", seq, "reason", reason)
	if !freshnessDrop(reason) {
		return
	}
	s.freshnessDropLocked(st)
	st.dropsUnlogged++
	if now := s.clock.Now(); st.lastDropLog.IsZero() || now.Sub(st.lastDropLog) >= dropLogEvery {
		st.log.Warn("model slower than real time: dropping windows", "dropped", st.dropsUnlogged, "last_reason", reason)
		st.dropsUnlogged, st.lastDropLog = 0, now
	}
}

// pop removes and returns the oldest queued window, clearing its slot so
// the queue's array does not keep its media alive.
func (st *stream) pop() windowing.Window {
	w := st.queue[0]
	n := copy(st.queue, st.queue[1:])
	st.queue[n] = windowing.Window{}
	st.queue = st.queue[:n]
	return w
}

// arrived records a window's arrival for the stream's cadence.
func (st *stream) arrived(now, end time.Time, silent bool) {
	if !st.lastEnd.IsZero() {
		st.hop = end.Sub(st.lastEnd)
	}
	st.lastArrival, st.lastEnd, st.lastSilent = now, end, silent
}

// freshnessDrop reports whether a drop reason means the window could not
// be analysed and delivered fresh: the model is slower than the stream.
func freshnessDrop(reason string) bool {
	switch reason {
	case DropStale, DropTooLate, DropSuperseded, DropQueueFull:
		return true
	}
	return false
}

// learnLocked feeds a finished window's GAR time to the service estimate.
// Windows cancelled by Remove or shutdown say nothing about the model. A
// window dropped stale did not finish in its budget: it took at least
// took, and counts as no faster than the estimate. A window the floor
// started against the estimate that finished faster shows the estimate is
// out of date: it starts again from that window.
func (s *Scheduler) learnLocked(j *job, took time.Duration, reason string) {
	est, known := s.est.value()
	switch {
	case reason == DropRemoved || reason == DropShutdown:
	case reason == DropStale:
		s.est.add(max(took, est))
	case j.forced && known && took < est:
		s.est.reset(took)
	default:
		s.est.add(took)
	}
}

// freshnessDropLocked counts a window of st dropped for freshness towards a
// degraded episode, and starts one (logged once) when the last
// degradedAfterWindows windows, or those over degradedAfterTime, were all
// dropped so.
func (s *Scheduler) freshnessDropLocked(st *stream) {
	now := s.clock.Now()
	if st.freshDrops == 0 {
		st.freshSince = now
	}
	st.freshDrops++
	if st.degraded || (st.freshDrops < degradedAfterWindows && now.Sub(st.freshSince) < degradedAfterTime) {
		return
	}
	st.degraded = true
	est, _ := s.est.value()
	st.log.Warn("stream degraded: no window delivered fresh; the model is slower than stale_after allows",
		"dropped_in_a_row", st.freshDrops, "service_time", est, "stale_after", st.cfg.StaleAfter)
}

// endEpisodeLocked ends st's run of freshness drops: a window was published,
// or the stream paused.
func (s *Scheduler) endEpisodeLocked(st *stream, why string) {
	if st.degraded {
		st.log.Info("stream no longer degraded", "because", why, "dropped_in_a_row", st.freshDrops,
			"lasted", s.clock.Now().Sub(st.freshSince))
	}
	st.freshDrops, st.freshSince, st.degraded = 0, time.Time{}, false
}

// Degradation is a stream whose recent windows were all dropped before they
// could be delivered fresh (see Degraded).
type Degradation struct {
	Stream string
	// Dropped counts the windows dropped in a row, since Since.
	Dropped int
	Since   time.Time
	// ServiceTime is the estimate of one window's GAR time (0: none yet);
	// StaleAfter the stream's budget.
	ServiceTime, StaleAfter time.Duration
}

// Degraded lists the streams whose last degradedAfterWindows windows, or
// every window over degradedAfterTime, were dropped for freshness (stale,
// too_late, superseded, queue_full), in the order they were added. The
// episode ends when a window of the stream that reached the model is
// published (silent ones say nothing about the model), or when the stream
// is paused.
func (s *Scheduler) Degraded() []Degradation {
	s.mu.Lock()
	defer s.mu.Unlock()
	est, _ := s.est.value()
	var out []Degradation
	for _, st := range s.ring {
		if st.degraded {
			out = append(out, Degradation{Stream: st.cfg.Name, Dropped: st.freshDrops, Since: st.freshSince,
				ServiceTime: est, StaleAfter: st.cfg.StaleAfter})
		}
	}
	return out
}

// ServiceTime returns the current estimate of one window's GAR time, and
// whether there is one yet.
func (s *Scheduler) ServiceTime() (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.est.value()
}
