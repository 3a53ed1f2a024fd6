package daemon

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/capture"
	"github.com/garssl/garssld/config"
	"github.com/garssl/garssld/metrics"
	"github.com/garssl/garssld/windowing"
)

// Stream states beyond capture's own (connecting, running, reconnecting,
// stopped), as published on <stream>/state.
const statePaused = "paused"

// Watched progress limits. A capture call into windowing takes
// milliseconds; one running for sinkCallLimit is stuck. A running capture
// that neither demuxes a packet nor delivers media for its stall_timeout
// plus stallSlack should have been reopened by capture's own stall
// watchdog long ago: that watchdog is stuck.
const (
	sinkCallLimit = 10 * time.Second
	stallSlack    = 10 * time.Second
)

// captureStopLimit bounds the wait for a capture session told to stop.
// Capture breaks FFmpeg's blocking calls through its interrupt callback and
// returns within milliseconds; a session still running after this is stuck
// in a system call that nothing can cancel (opening a FIFO nobody writes
// to, a hung network file system), and is abandoned: the one exception to
// "every goroutine is waited for", logged and counted in
// garssl_capture_abandoned_total, so that a stop or a pause never hangs
// on an input.
const captureStopLimit = 5 * time.Second

// streamEnv is what a stream supervisor needs from the daemon. Every
// function must be safe from any goroutine and must not block.
type streamEnv struct {
	log       hclog.Logger
	modelSize int
	// frames asks capture for the camera frame the live view shows.
	frames bool
	submit func(windowing.Window)
	// onState reports a state change (capture's or the supervisor's own)
	// to the publisher, numbered by stateSeq. Calls may overlap and arrive
	// out of order; the higher seq is the newer state.
	onState func(stream, state, errText string, seq uint64)
	// stateSeq numbers a stream's state changes. One counter for the
	// daemon, so that a stream restarted or added again by a reload goes
	// on above its predecessor's numbers.
	stateSeq  func() uint64
	heartbeat interface{ Beat() }
	beatEvery time.Duration
	// sinkHook, for tests, runs at the start of every watched sink call.
	sinkHook func(stream string)
	// sinkCallLimit, stallSlack and stopLimit replace the constants in
	// tests; 0 keeps them.
	sinkCallLimit, stallSlack, stopLimit time.Duration
}

// streamCarry is what a stream keeps across its capture sessions and
// across a restart by a reload: seq numbers go on from the last window
// handed on, so that (run_id, stream, seq) stays unique within a run, and
// counters stay cumulative.
type streamCarry struct {
	lastSeq uint64
	totals  metrics.StreamSnapshot // counters of ended sessions
	// stuck are the done channels of abandoned sessions: while one is
	// still blocked, the input is not opened again, so that pausing and
	// resuming (or reloading) a stream on a blocking input cannot pile up
	// threads without bound.
	stuck []<-chan struct{}
}

// supervisor runs one stream: capture sessions (a capture.Source feeding a
// windowing.Cutter) while the stream is enabled, none while it is paused.
// It beats its heartbeat while the capture makes progress, also while it
// reconnects, and never waits on a capture call.
type supervisor struct {
	cfg     config.Stream
	env     streamEnv
	enabled bool      // at start
	enable  chan bool // latest command wins; see setEnabled

	mu       sync.Mutex
	state    string
	errText  string
	stateSeq uint64 // the number of state, from env.stateSeq
	carry    streamCarry
	cur      *session // nil between sessions
	opened   int      // capture sessions started: each opens the input
}

// source is what a supervisor reads of a running capture.Source.
type source interface {
	Stats() capture.Stats
	Status() capture.Status
}

// session is one capture run.
type session struct {
	// gone is set when the session is abandoned: its goroutine may still
	// deliver windows and states, which nobody wants any more.
	gone    *atomic.Bool
	src     source
	sink    *watchedSink
	done    chan struct{}
	err     error // Run's result, once done is closed
	cancel  func()
	packets uint64
	moved   time.Time // when packets or a sink call last showed progress
}

func newSupervisor(cfg config.Stream, env streamEnv, carry streamCarry, enabled bool) *supervisor {
	if env.sinkCallLimit == 0 {
		env.sinkCallLimit = sinkCallLimit
	}
	if env.stallSlack == 0 {
		env.stallSlack = stallSlack
	}
	if env.stateSeq == nil { // a supervisor on its own, in tests
		var n atomic.Uint64
		env.stateSeq = func() uint64 { return n.Add(1) }
	}
	if env.stopLimit == 0 {
		env.stopLimit = captureStopLimit
	}
	state := string(capture.StateConnecting)
	if !enabled {
		state = statePaused
	}
	return &supervisor{cfg: cfg, env: env, enabled: enabled, enable: make(chan bool, 1), carry: carry, state: state, stateSeq: env.stateSeq()}
}

// setEnabled asks the supervisor to capture (true) or to pause (false). It
// never blocks: an order not yet taken is replaced. Only the owner loop
// calls it.
func (s *supervisor) setEnabled(on bool) {
	for {
		select {
		case s.enable <- on:
			return
		default:
			select {
			case <-s.enable:
			default:
			}
		}
	}
}

// run supervises until ctx ends. A capture that ends by itself (a file
// without loop, or an input that can never work) leaves the stream
// stopped until it is paused and resumed, or restarted by a reload.
func (s *supervisor) run(ctx context.Context) error {
	state, _, seq := s.status()
	s.env.onState(s.cfg.Name, state, "", seq)
	tick := time.NewTicker(s.env.beatEvery)
	defer tick.Stop()
	enabled := s.enabled
	for {
		if !enabled {
			s.setState(statePaused, "")
		}
		for !enabled {
			select {
			case <-ctx.Done():
				return nil
			case enabled = <-s.enable:
			case <-tick.C:
				s.env.heartbeat.Beat()
			}
		}
		sess, err := s.start(ctx)
		if err != nil {
			// capture.New refused the stream (an input it cannot parse):
			// no retry helps; the state says why.
			s.env.log.Error("cannot capture the stream", "error", err)
			s.setState(string(capture.StateStopped), err.Error())
		}
		for enabled {
			var ended <-chan struct{}
			if sess != nil {
				ended = sess.done
			}
			select {
			case <-ctx.Done():
				s.stop(sess)
				return nil
			case on := <-s.enable:
				if !on {
					s.stop(sess)
					enabled = false
				}
			case <-ended:
				s.ended(sess)
				sess = nil
			case <-tick.C:
				if sess == nil || s.alive(sess) {
					s.env.heartbeat.Beat()
				}
			}
		}
	}
}

// start opens a capture session.
func (s *supervisor) start(ctx context.Context) (*session, error) {
	s.mu.Lock()
	base := s.carry.lastSeq
	s.carry.stuck = slices.DeleteFunc(s.carry.stuck, func(done <-chan struct{}) bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
	stuck := len(s.carry.stuck)
	s.mu.Unlock()
	if stuck > 0 {
		return nil, fmt.Errorf("the previous capture of this input is still blocked in a system call (it was abandoned); not opening the input again until that call returns: check that the input is a source that can be read (not a FIFO nobody writes to), then resume or reload the stream")
	}
	gone := new(atomic.Bool)
	cutter, err := windowing.NewCutter(windowing.Config{Stream: s.cfg.Name, Length: s.cfg.Window, Hop: s.cfg.Hop}, func(w windowing.Window) {
		if gone.Load() {
			return
		}
		// Seqs go on from the previous sessions; the cutter counts from 1.
		w.Seq += base
		s.mu.Lock()
		s.carry.lastSeq = w.Seq
		s.mu.Unlock()
		s.env.submit(w)
	})
	if err != nil {
		return nil, err
	}
	var hook func()
	if s.env.sinkHook != nil {
		name := s.cfg.Name
		hook = func() { s.env.sinkHook(name) }
	}
	sink := newWatchedSink(cutter, hook)
	var capSeq uint64 // the newest capture status taken; under s.mu
	src, err := capture.New(captureConfig(s.cfg, s.env.modelSize, s.env.frames), sink, s.env.log, func(st capture.Status) {
		if !gone.Load() {
			s.captureState(&capSeq, st)
		}
	})
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	sess := &session{gone: gone, src: src, sink: sink, done: make(chan struct{}), cancel: cancel, moved: time.Now()}
	s.mu.Lock()
	s.opened++
	s.mu.Unlock()
	s.setState(string(capture.StateConnecting), "")
	// The supervisor waits for this goroutine in stop or ended, or, past
	// captureStopLimit, abandons it.
	go func() {
		defer close(sess.done)
		defer cancel()
		sess.err = src.Run(sctx)
	}()
	s.mu.Lock()
	s.cur = sess
	s.mu.Unlock()
	return sess, nil
}

// stop ends a session and waits for it, for stopLimit at most: a session
// that is still running then is abandoned (see captureStopLimit).
func (s *supervisor) stop(sess *session) {
	if sess == nil {
		return
	}
	sess.cancel()
	limit := time.NewTimer(s.env.stopLimit)
	defer limit.Stop()
	select {
	case <-sess.done:
	case <-limit.C:
		sess.gone.Store(true)
		inCall, _ := sess.sink.progress()
		s.env.log.Error("the capture did not stop; abandoning it, blocked in a system call that cannot be cancelled (e.g. opening a FIFO or device nobody writes to); it holds a thread until the call returns",
			"waited", s.env.stopLimit, "state", string(sess.src.Status().State), "in_windowing_call", inCall > 0)
		s.mu.Lock()
		s.carry.totals.Abandoned++
		s.carry.stuck = append(s.carry.stuck, sess.done)
		s.mu.Unlock()
	}
	s.retire(sess)
}

// ended handles a capture that returned by itself: at the end of a file
// the last windows are cut; an error is the stream's reason to be stopped.
func (s *supervisor) ended(sess *session) {
	if sess.err == nil {
		sess.sink.Flush()
		s.env.log.Info("the input ended; the stream stays stopped until it is resumed or reloaded")
	} else {
		s.env.log.Error("capture failed; the stream stays stopped until it is resumed or reloaded", "error", sess.err)
	}
	s.retire(sess)
}

// retire folds an ended session's counters into the stream's totals.
func (s *supervisor) retire(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.carry.totals = addSnapshot(s.carry.totals, sessionSnapshot(sess))
	s.cur = nil
}

// alive reports whether the session shows progress, as the watchdog
// wants it: no capture call stuck, and, while capture says it is running,
// packets or media within its stall timeout plus slack. A session that is
// connecting or reconnecting is alive: a restart would not bring a camera
// back, and capture bounds its own waits.
func (s *supervisor) alive(sess *session) bool {
	inCall, sinceReturn := sess.sink.progress()
	if inCall > s.env.sinkCallLimit {
		return false
	}
	now := time.Now()
	if n := sess.src.Stats().Packets; n != sess.packets || sinceReturn < s.env.beatEvery {
		sess.packets, sess.moved = n, now
	}
	if sess.src.Status().State != capture.StateRunning {
		sess.moved = now
		return true
	}
	return now.Sub(sess.moved) <= s.cfg.StallTimeout+s.env.stallSlack
}

// setState makes state the stream's and reports it if it changed.
func (s *supervisor) setState(state, errText string) {
	s.mu.Lock()
	s.changeLocked(state, errText)
}

// captureState takes a capture status unless a newer one of the same
// session (*last, its Seq) was taken already: the camera and a separate
// microphone call back from their own goroutines after capture's lock is
// released, so an older status can arrive second.
func (s *supervisor) captureState(last *uint64, st capture.Status) {
	s.mu.Lock()
	if st.Seq <= *last {
		s.mu.Unlock()
		return
	}
	*last = st.Seq
	s.changeLocked(string(st.State), st.LastError)
}

// changeLocked sets the state, numbers a change under s.mu, which it
// releases, and reports the change. The report is made unlocked (the
// publisher must not wait on a stream), so reports can cross; their
// numbers order them.
func (s *supervisor) changeLocked(state, errText string) {
	changed := state != s.state || errText != s.errText
	if changed {
		s.state, s.errText = state, errText
		s.stateSeq = s.env.stateSeq()
	}
	seq := s.stateSeq
	s.mu.Unlock()
	if changed {
		s.env.onState(s.cfg.Name, state, errText, seq)
	}
}

// status is the stream's state, the error that explains it, and the
// state's number.
func (s *supervisor) status() (state, errText string, seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state, s.errText, s.stateSeq
}

// snapshot is the stream's counters for the metrics scrape.
func (s *supervisor) snapshot() metrics.StreamSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := s.carry.totals
	if s.cur != nil {
		snap = addSnapshot(snap, sessionSnapshot(s.cur))
	}
	snap.Stream, snap.State = s.cfg.Name, s.state
	return snap
}

// carried is what a successor of this supervisor (after a reload) takes
// over; call it once run has returned.
func (s *supervisor) carried() streamCarry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.carry
}

func addSnapshot(a, b metrics.StreamSnapshot) metrics.StreamSnapshot {
	a.Packets += b.Packets
	a.DecodeErrors += b.DecodeErrors
	a.Reconnects += b.Reconnects
	a.Stalls += b.Stalls
	a.Discontinuities += b.Discontinuities
	a.Abandoned += b.Abandoned
	a.Windows += b.Windows
	a.SilenceFilledSamples += b.SilenceFilledSamples
	a.VideoPacketsDecoded += b.VideoPacketsDecoded
	a.Dropped = addCounts(a.Dropped, b.Dropped)
	a.FullDecodeWindows = addCounts(a.FullDecodeWindows, b.FullDecodeWindows)
	return a
}

// addCounts returns a + b by key, in a map of its own when b adds any.
func addCounts(a, b map[string]uint64) map[string]uint64 {
	if len(b) == 0 {
		return a
	}
	sum := make(map[string]uint64, len(a)+len(b))
	for k, n := range a {
		sum[k] += n
	}
	for k, n := range b {
		sum[k] += n
	}
	return sum
}

func streamLog(root hclog.Logger, name string) hclog.Logger {
	return root.Named("stream").Named(name).With("stream", name)
}
