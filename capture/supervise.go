package capture

import (
	"context"
	"errors"
	"fmt"
	"github.com/garssl/garssld/media"
	"io"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/internal/backoff"
)

// feed is one input of a Source: its reconnect loop, and the timeline its
// sessions share.
type feed struct {
	src    *Source
	index  int // 0: the camera input, 1: a separate microphone
	spec   inputSpec
	role   role
	opts   map[string]string // demuxer options
	log    hclog.Logger
	tl     *timeline
	pick   *picker // the camera input's picture choice, across its sessions
	policy backoff.Policy
	opened bool // the input was opened at least once
	media  bool // the current session delivered media
	drift  atomicFloat
	// anchoring: this input's first session fixed position 0, and may
	// still learn when its sender captured it (start_time_realtime).
	anchoring bool
}

func newFeed(s *Source, index int, in string, r role, opts map[string]string) (*feed, error) {
	spec, err := parseInput(in)
	if err != nil {
		return nil, err
	}
	return &feed{
		src: s, index: index, spec: spec, role: r, opts: opts,
		log:    s.log.With("input", spec.String()),
		tl:     newTimeline(s.cfg.Window, spec.live),
		policy: backoff.Policy{Min: s.cfg.BackoffMin, Max: s.cfg.BackoffMax},
	}, nil
}

// run opens the input and reopens it after failures, the way a robot wants
// its camera back: forever, with growing pauses, until ctx ends.
func (f *feed) run(ctx context.Context) error {
	defer f.src.pace.finish(f.index)
	if f.role.video {
		f.pick = newPicker(f.src.cfg.ModelWidth, f.src.cfg.ModelHeight, f.src.cfg.Frames)
		f.pick.video = videoOptions{pick: f.src.cfg.FramePick, tolerance: f.src.cfg.FrameTolerance,
			maxBytes: GOPBufferBytes, maxDur: GOPBufferDuration, stats: &f.src.video, alignGrid: f.spec.live}
		defer f.pick.free()
	}
	return f.supervise(ctx)
}

func (f *feed) driftPPM() float64 { return f.drift.load() }

func (f *feed) supervise(ctx context.Context) error {
	for {
		f.src.setState(f.spec.raw, StateConnecting, "")
		err := f.session(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var final bool
		if err, final = f.verdict(err); final {
			return err
		}
		var stall *stallError
		if errors.As(err, &stall) {
			f.src.stalls.Add(1)
		}
		delay := f.policy.Next()
		f.src.setState(f.spec.raw, StateReconnecting, err.Error())
		f.log.Warn("input lost, reconnecting", "error", err, "retry_in", delay.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		f.src.reconnects.Add(1)
		f.tl.reopen()
	}
}

// verdict says whether a session's error ends the input for good, and in
// what words.
func (f *feed) verdict(err error) (error, bool) {
	configErr := errors.Is(err, ErrNoVideo) || errors.Is(err, ErrNoAudio) || errors.Is(err, ErrUnsupported) || errors.Is(err, ErrNoChannel)
	switch {
	case !f.spec.live && errors.Is(err, io.EOF):
		return nil, true
	case configErr && !(f.spec.live && f.src.cfg.Service):
		return err, true
	case !f.spec.live && !f.opened:
		// A file that cannot be opened does not heal by waiting.
		return fmt.Errorf("%w: %w", ErrBadInput, err), true
	case !f.spec.live:
		return err, true
	case f.src.cfg.FailFast && !f.opened:
		return err, true
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%s ended", f.spec), false
	}
	return err, false
}

// session opens the input, reads it to its end and closes it, freeing every
// FFmpeg object before it returns.
func (f *feed) session(ctx context.Context) error {
	cfg := f.src.cfg
	w := &watch{live: f.spec.live, input: f.spec.String(), open: cfg.OpenTimeout, stall: cfg.StallTimeout, began: time.Now()}
	stop := w.start(ctx)
	defer stop()
	in, err := openInput(f.spec, inputOptions{
		demuxer: maps.Clone(f.opts), decoder: f.decoderOptions(), role: f.role, pick: f.pick,
		onInterrupter: w.interruptWith, array: arrayOptions{stream: cfg.Name, channels: cfg.ArrayChannels},
		packetHook: cfg.packetHook,
	})
	if err != nil {
		return w.explain(ctx, err)
	}
	defer in.close()
	f.opened, f.media = true, false
	f.tl.startsAt(in.startTime())
	r := &reader{
		sink: lockedSink{f.src, f.index}, tl: f.tl, opened: in.openedAt,
		now: func(t time.Time) time.Duration {
			return f.src.clock.at(t, func(zero time.Time) {
				f.anchoring = rtcpDemuxers[in.fc.InputFormat().Name()]
				f.src.sinkCall(func(k media.Sink) { k.Anchor(zero) })
			})
		},
		loop: cfg.Loop && !f.spec.live, realtime: cfg.Realtime && !f.spec.live,
		done: ctx.Done(), watch: w,
		stats: readStats{totalPackets: &f.src.packets, totalDecodeErrors: &f.src.decodeErrors},
		placed: func(p placement) {
			f.placed(p)
			f.senderClock(in)
		},
	}
	err = in.read(r)
	f.anchoring = false
	if r.stats.decodeErrors > 0 {
		f.log.Warn("decode errors", "count", r.stats.decodeErrors)
	}
	return w.explain(ctx, err)
}

// decoderOptions: see the package doc for skip_loop_filter.
func (f *feed) decoderOptions() map[string]string {
	opts := map[string]string{"threads": "auto", "skip_loop_filter": "noref"}
	if f.src.cfg.DecoderThreads != "" {
		opts["threads"] = f.src.cfg.DecoderThreads
	}
	if f.src.cfg.SkipFrame != "" {
		opts["skip_frame"] = f.src.cfg.SkipFrame
	}
	return opts
}

// placed accounts for a packet the timeline placed: a jump is counted, a
// long gap in the camera input is reported to the sink (a microphone's gap
// only leaves its windows silent), and the first media resets the backoff.
func (f *feed) placed(p placement) {
	if p.jump != "" {
		f.src.countJump(p.jump)
		if p.jump != JumpReopen {
			f.log.Info("timestamps jumped; the timeline carries on", "kind", p.jump, "at", p.at)
		}
	}
	if p.wrapped {
		f.src.countJump(JumpWrap)
		f.log.Info("timestamps wrapped around; the timeline carries on", "at", p.at)
	}
	if p.gapTo > p.gapFrom && f.index == 0 {
		f.log.Info("media gap longer than a window", "from", p.gapFrom, "to", p.gapTo)
		// No frame before the gap will be nearer its target than the one held.
		sink := lockedSink{f.src, f.index}
		if err := f.pick.finish(sink); err != nil {
			f.log.Warn("cannot convert the last picture before a gap", "error", err)
		}
		sink.Gap(p.gapFrom, p.gapTo)
	}
	f.drift.store(f.tl.driftPPM())
	if !f.media {
		f.media = true
		f.policy.Reset()
		f.src.setState(f.spec.raw, StateRunning, "")
	}
}

// rtcpDemuxers are those that learn the sender's clock from RTCP.
var rtcpDemuxers = map[string]bool{"rtsp": true, "sdp": true, "rtp": true}

// senderClock anchors the stream at its sender's clock once FFmpeg has it
// (start_time_realtime, from the first RTCP sender report, seconds after
// the first packet): the sender's wall-clock time of media time 0.
func (f *feed) senderClock(in *input) {
	if !f.anchoring {
		return
	}
	sent, ok, err := startTimeRealtime(in.fc)
	switch {
	case err != nil:
		f.log.Error("cannot read the sender's clock", "error", err)
		f.anchoring = false
	case ok:
		f.anchoring = false
		f.src.senderAnchor(sent.Add(f.tl.mediaAt(0)), f.spec.String())
	}
}

// watch interrupts a blocked open or read when ctx ends or, for a live
// input, when opening and probing take longer than the open timeout or no
// packet has come for the stall timeout once media flowed. A local file
// does not stall; a file input waiting for its partner (pacer) or its time
// (Realtime) must not be mistaken for one.
type watch struct {
	live        bool
	input       string // redacted
	open, stall time.Duration
	began       time.Time
	lastPacket  atomic.Int64 // unix ns of the latest packet; 0 before the first
	interrupter atomic.Pointer[astiav.IOInterrupter]
	fired       atomic.Pointer[stallError]
}

// stallError says which bound a live input broke, naming the input and the
// timeout, and whether media never came or stopped.
type stallError struct {
	input   string
	timeout time.Duration
	opening bool // no packet had come since the open began
}

func (e *stallError) Error() string {
	if e.opening {
		return fmt.Sprintf("%s: no media came within %v of opening it (open timeout)", e.input, e.timeout)
	}
	return fmt.Sprintf("%s: media stopped: no packet for %v (stall timeout)", e.input, e.timeout)
}

func (w *watch) interruptWith(i astiav.IOInterrupter) { w.interrupter.Store(&i) }

func (w *watch) interrupt() {
	if i := w.interrupter.Load(); i != nil {
		(*i).Interrupt()
	}
}

// packet records a packet's arrival; nil-safe for readers without a watch.
func (w *watch) packet(at time.Time) {
	if w != nil {
		w.lastPacket.Store(at.UnixNano())
	}
}

// start runs the watchdog until the returned stop is called; stop waits for
// it, so it never interrupts an input that is gone.
func (w *watch) start(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(min(w.stall/4, 250*time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				w.interrupt()
				return
			case <-tick.C:
				if e := w.check(time.Now()); e != nil && w.fired.CompareAndSwap(nil, e) {
					w.interrupt()
				}
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// check reports the bound a live input broke at now, if any.
func (w *watch) check(now time.Time) *stallError {
	if !w.live {
		return nil
	}
	last := w.lastPacket.Load()
	switch {
	case last == 0 && now.Sub(w.began) > w.open:
		return &stallError{input: w.input, timeout: w.open, opening: true}
	case last != 0 && now.Sub(time.Unix(0, last)) > w.stall:
		return &stallError{input: w.input, timeout: w.stall}
	}
	return nil
}

// explain replaces an interrupted call's error by its reason.
func (w *watch) explain(ctx context.Context, err error) error {
	if !errors.Is(err, errInterrupted) {
		return err
	}
	if e := w.fired.Load(); e != nil {
		return e
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
