package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/internal/backoff"
)

// Config describes one Source: a camera input, optionally a separate
// microphone input, and how to treat them.
type Config struct {
	// Name is the stream name, used in logs.
	Name string
	// Input is the camera (and usually microphone) input; see the package doc.
	Input string
	// InputOptions are passed to FFmpeg when opening Input (rtsp_transport, …).
	InputOptions map[string]string
	// Audio is an optional separate audio input; Input's audio is ignored then.
	Audio string
	// AudioOptions are passed to FFmpeg when opening Audio.
	AudioOptions map[string]string
	// SkipFrame is "", "noref" or "nokey": frames the video decoder may skip.
	SkipFrame string
	// Loop restarts a file input at its end instead of stopping.
	Loop bool
	// StallTimeout reopens an input that delivered no packet for this long.
	StallTimeout time.Duration
	// ModelWidth and ModelHeight are the picture size delivered to the Sink.
	ModelWidth, ModelHeight int
	// BackoffMin and BackoffMax bound the delay before reopening a live input.
	BackoffMin, BackoffMax time.Duration
	// FailFast returns the first open error instead of retrying, for one-shot
	// commands; the daemon retries live inputs forever.
	FailFast bool
	// DecoderThreads is FFmpeg's "threads" decoder option; "" means auto.
	DecoderThreads string
}

// Defaults for unset Config fields.
const (
	DefaultStallTimeout = 5 * time.Second
	DefaultBackoffMin   = time.Second
	DefaultBackoffMax   = 30 * time.Second
)

// State is where a Source is in its life.
type State string

// The states a Source goes through.
const (
	StateConnecting   State = "connecting"
	StateRunning      State = "running"
	StateReconnecting State = "reconnecting"
	StateStopped      State = "stopped"
)

// Status is a Source's state and the last error it met.
type Status struct {
	State     State
	LastError string
	Since     time.Time
}

// Stats are a Source's counters since it was created.
type Stats struct {
	Packets      uint64
	DecodeErrors uint64
	Reconnects   uint64
	Stalls       uint64
}

// Source captures one stream and feeds a Sink. Create it with New and call
// Run once.
type Source struct {
	cfg   Config
	main  inputSpec
	audio *inputSpec
	log   hclog.Logger

	sinkMu sync.Mutex // serialises the inputs' calls into sink
	sink   Sink

	anchorOnce sync.Once
	anchorWall time.Time // wall time of timeline position 0

	statusMu      sync.Mutex
	inputStates   map[string]State
	status        Status
	onStateChange func(Status)

	pace *pacer

	packets, decodeErrors, reconnects, stalls atomic.Uint64
}

// New validates cfg and returns a Source that will feed sink. onStateChange,
// if not nil, is called (from the Source's goroutines) on every state change.
func New(cfg Config, sink Sink, log hclog.Logger, onStateChange func(Status)) (*Source, error) {
	main, err := parseInput(cfg.Input)
	if err != nil {
		return nil, fmt.Errorf("stream %q: %w", cfg.Name, err)
	}
	s := &Source{cfg: cfg, main: main, sink: sink, log: log, onStateChange: onStateChange,
		inputStates: map[string]State{}, status: Status{State: StateConnecting, Since: time.Now()}}
	if cfg.Audio != "" {
		a, err := parseInput(cfg.Audio)
		if err != nil {
			return nil, fmt.Errorf("stream %q audio: %w", cfg.Name, err)
		}
		s.audio = &a
	}
	s.pace = newPacer(s.audio != nil && !s.main.live && !s.audio.live)
	switch cfg.SkipFrame {
	case "", "noref", "nokey":
	default:
		return nil, fmt.Errorf("stream %q: skip_frame %q is not valid; use \"\", \"noref\" or \"nokey\"", cfg.Name, cfg.SkipFrame)
	}
	if cfg.ModelWidth <= 0 || cfg.ModelHeight <= 0 {
		return nil, fmt.Errorf("stream %q: model size %dx%d must be positive", cfg.Name, cfg.ModelWidth, cfg.ModelHeight)
	}
	if s.cfg.StallTimeout <= 0 {
		s.cfg.StallTimeout = DefaultStallTimeout
	}
	if s.cfg.BackoffMin <= 0 {
		s.cfg.BackoffMin = DefaultBackoffMin
	}
	if s.cfg.BackoffMax < s.cfg.BackoffMin {
		s.cfg.BackoffMax = max(DefaultBackoffMax, s.cfg.BackoffMin)
	}
	return s, nil
}

// Status returns the current state and last error.
func (s *Source) Status() Status {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	return s.status
}

// Stats returns the counters.
func (s *Source) Stats() Stats {
	return Stats{Packets: s.packets.Load(), DecodeErrors: s.decodeErrors.Load(),
		Reconnects: s.reconnects.Load(), Stalls: s.stalls.Load()}
}

// Run captures until ctx is cancelled, the main input (a file) ends, or an
// error no reconnect can fix. A file that ends returns nil.
func (s *Source) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var err error
	if s.audio == nil {
		err = s.supervise(ctx, 0, s.main, role{video: true, audio: true}, s.cfg.InputOptions)
	} else {
		var wg sync.WaitGroup
		var audioErr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			audioErr = s.supervise(ctx, 1, *s.audio, role{audio: true}, s.cfg.AudioOptions)
			if audioErr != nil {
				cancel() // a broken microphone config stops the stream as a whole
			}
		}()
		err = s.supervise(ctx, 0, s.main, role{video: true}, s.cfg.InputOptions)
		if err != nil || s.audio.live {
			// The camera ended: a live microphone has nothing left to pair
			// with. A microphone file is read to its end, so the last
			// windows get their sound.
			cancel()
		}
		wg.Wait()
		if err == nil || errors.Is(err, context.Canceled) && audioErr != nil {
			err = audioErr
		}
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = nil
	}
	last := ""
	if err != nil {
		last = err.Error()
	}
	s.setState("", StateStopped, last)
	return err
}

// supervise opens one input and reopens it after failures, the way a robot
// wants its camera back: forever, with growing pauses, until ctx ends.
func (s *Source) supervise(ctx context.Context, index int, spec inputSpec, r role, demuxerOpts map[string]string) error {
	defer s.pace.finish(index)
	log := s.log.With("input", spec.String())
	policy := backoff.Policy{Min: s.cfg.BackoffMin, Max: s.cfg.BackoffMax}
	var offset time.Duration
	opened := false
	for {
		s.setState(spec.raw, StateConnecting, "")
		first := !opened
		end, err := s.runOnce(ctx, index, spec, r, demuxerOpts, offset, first, func() {
			policy.Reset()
			s.setState(spec.raw, StateRunning, "")
		}, &opened)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case errors.Is(err, ErrNoVideo), errors.Is(err, ErrNoAudio), errors.Is(err, ErrUnsupported):
			return err
		case errors.Is(err, io.EOF) && !spec.live:
			if !s.cfg.Loop {
				return nil
			}
			offset = end
			log.Debug("file ended, starting again", "at", end)
			continue
		case err != nil && !spec.live && !opened:
			// A file that cannot be opened does not heal by waiting.
			return fmt.Errorf("%w: %w", ErrBadInput, err)
		case err != nil && !spec.live:
			return err
		case err != nil && first && !opened && s.cfg.FailFast:
			return err
		}
		if errors.Is(err, errStalled) {
			s.stalls.Add(1)
			err = fmt.Errorf("no packet for %v from %s", s.cfg.StallTimeout, spec)
		}
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%s ended", spec)
		}
		delay := policy.Next()
		s.setState(spec.raw, StateReconnecting, err.Error())
		log.Warn("input lost, reconnecting", "error", err, "retry_in", delay.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		s.reconnects.Add(1)
		// A live input resumes where the wall clock is: the gap stays a gap.
		offset = time.Since(s.anchor())
		if opened {
			s.sinkCall(func(sink Sink) { sink.Discontinuity(offset) })
		}
	}
}

// runOnce opens the input, reads it to its end and closes it, freeing every
// FFmpeg object before it returns. It returns the timeline position reached.
func (s *Source) runOnce(ctx context.Context, index int, spec inputSpec, r role, demuxerOpts map[string]string, offset time.Duration, first bool, onMedia func(), opened *bool) (time.Duration, error) {
	var lastPacket atomic.Int64
	lastPacket.Store(time.Now().UnixNano())
	var interrupter atomic.Pointer[astiav.IOInterrupter]
	var stalled, stopping atomic.Bool

	// The watchdog is owned by this call: it is stopped and waited for before
	// the input is freed, so it never interrupts a context that is gone.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.watchdog(ctx, stop, spec.live, &lastPacket, &interrupter, &stalled, &stopping)
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()

	// See the package doc for skip_loop_filter.
	decoderOpts := map[string]string{"threads": "auto", "skip_loop_filter": "noref"}
	if s.cfg.DecoderThreads != "" {
		decoderOpts["threads"] = s.cfg.DecoderThreads
	}
	if s.cfg.SkipFrame != "" {
		decoderOpts["skip_frame"] = s.cfg.SkipFrame
	}
	in, err := openInput(spec, inputOptions{
		demuxer: maps.Clone(demuxerOpts), decoder: decoderOpts, role: r,
		modelW: s.cfg.ModelWidth, modelH: s.cfg.ModelHeight,
		onInterrupter: func(i astiav.IOInterrupter) { interrupter.Store(&i) },
	})
	if err != nil {
		if stalled.Load() {
			return offset, errStalled
		}
		return offset, err
	}
	defer in.close()
	*opened = true

	if first {
		if spec.live {
			// The microphone's first packet may come later than the
			// camera's: that difference is its place on the timeline.
			in.offset = time.Since(s.anchor())
		}
	} else {
		in.offset = offset
	}
	in.end = in.offset
	stats := readStats{stopping: &stopping}
	err = in.run(lockedSink{s, index}, &lastPacket, &stats, onMedia)
	s.packets.Add(stats.packets)
	s.decodeErrors.Add(stats.decodeErrors)
	if stats.decodeErrors > 0 {
		s.log.Warn("decode errors", "input", spec.String(), "count", stats.decodeErrors)
	}
	if stalled.Load() && errors.Is(err, errStalled) {
		return in.end, errStalled
	}
	if errors.Is(err, errStalled) && ctx.Err() != nil {
		return in.end, ctx.Err()
	}
	return in.end, err
}

// anchor returns the wall time of timeline position 0, fixing it on first
// use: the arrival of the first input's first moments.
func (s *Source) anchor() time.Time {
	s.anchorOnce.Do(func() {
		s.anchorWall = time.Now()
		s.sinkCall(func(sink Sink) { sink.Anchor(s.anchorWall) })
	})
	return s.anchorWall
}

// watchdog interrupts a blocked open or read when ctx ends or, for a live
// input, no packet has arrived for StallTimeout. A local file does not stall;
// a file input waiting for its partner (pacer) must not be mistaken for one.
func (s *Source) watchdog(ctx context.Context, stop <-chan struct{}, live bool, lastPacket *atomic.Int64, interrupter *atomic.Pointer[astiav.IOInterrupter], stalled, stopping *atomic.Bool) {
	tick := time.NewTicker(min(s.cfg.StallTimeout/4, 250*time.Millisecond))
	defer tick.Stop()
	interrupt := func() {
		if i := interrupter.Load(); i != nil {
			(*i).Interrupt()
		}
	}
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			stopping.Store(true)
			interrupt()
			return
		case <-tick.C:
			if live && time.Since(time.Unix(0, lastPacket.Load())) > s.cfg.StallTimeout && !stalled.Load() {
				stalled.Store(true)
				interrupt()
			}
		}
	}
}

// setState records an input's state and derives the Source's: stopped when
// Run ended, else the worst state among its inputs.
func (s *Source) setState(input string, st State, lastErr string) {
	s.statusMu.Lock()
	if input != "" {
		s.inputStates[input] = st
	}
	overall := st
	if st != StateStopped {
		overall = StateRunning
		for _, is := range s.inputStates {
			if is == StateReconnecting || (is == StateConnecting && overall == StateRunning) {
				overall = is
			}
		}
	}
	changed := overall != s.status.State || (lastErr != "" && lastErr != s.status.LastError)
	if overall != s.status.State {
		s.status.Since = time.Now()
	}
	s.status.State = overall
	if lastErr != "" || overall == StateRunning {
		s.status.LastError = lastErr
	}
	status := s.status
	s.statusMu.Unlock()
	if changed {
		s.log.Info("stream state", "state", status.State, "error", status.LastError)
		if s.onStateChange != nil {
			s.onStateChange(status)
		}
	}
}

func (s *Source) sinkCall(f func(Sink)) {
	s.sinkMu.Lock()
	defer s.sinkMu.Unlock()
	f(s.sink)
}

// lockedSink serialises input index's calls into the Source's sink, fixes
// the anchor before the first media, and paces two file inputs.
type lockedSink struct {
	s     *Source
	index int
}

func (l lockedSink) Anchor(time.Time) {}
func (l lockedSink) Audio(pos time.Duration, samples []int16) {
	l.s.pace.advance(l.index, pos)
	l.s.anchor()
	l.s.sinkCall(func(k Sink) { k.Audio(pos, samples) })
}
func (l lockedSink) PictureTarget() (t time.Duration) {
	l.s.sinkCall(func(k Sink) { t = k.PictureTarget() })
	return t
}
func (l lockedSink) Picture(p Picture) {
	l.s.anchor()
	l.s.sinkCall(func(k Sink) { k.Picture(p) })
}
func (l lockedSink) VideoAt(pos time.Duration) {
	l.s.pace.advance(l.index, pos)
	l.s.sinkCall(func(k Sink) { k.VideoAt(pos) })
}
func (l lockedSink) Discontinuity(pos time.Duration) {
	l.s.sinkCall(func(k Sink) { k.Discontinuity(pos) })
}
