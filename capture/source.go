package capture

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/media"
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
	// ArrayChannels are the input channels (from 0) of a microphone array,
	// in the order of its positions: with them the audio input's sound at
	// its own rate (at most SampleRate) reaches a media.ArraySink too. An
	// ALSA or Pulse input is opened with enough channels unless its options
	// set "channels"; a channel the input lacks is ErrNoChannel.
	ArrayChannels []int
	// SkipFrame is "", "noref" or "nokey": frames the video decoder may skip.
	SkipFrame string
	// Loop restarts a file input at its end instead of stopping.
	Loop bool
	// Realtime reads a file input at the media's own rate, as `ffmpeg -re`
	// does, instead of as fast as it decodes. Live inputs come at their own
	// rate anyway.
	Realtime bool
	// Window is the length of the stream's windows: the longest gap filled
	// with silence, and the largest timestamp step that is not a jump.
	Window time.Duration
	// OpenTimeout bounds opening and probing a live input, until its first
	// packet; FFmpeg alone may probe for 5 s (analyzeduration).
	OpenTimeout time.Duration
	// StallTimeout reopens a live input that delivered no packet for this
	// long after its media began to flow.
	StallTimeout time.Duration
	// ModelWidth and ModelHeight are the picture size delivered to the media.Sink.
	ModelWidth, ModelHeight int
	// BackoffMin and BackoffMax bound the delay before reopening a live input.
	BackoffMin, BackoffMax time.Duration
	// FailFast returns the first open error of a live input instead of
	// retrying, for one-shot commands (dump).
	FailFast bool
	// Service keeps live inputs going whatever they report: a camera still
	// booting that serves no audio track yet, or a reconnect that missed
	// the SPS, gives ErrNoAudio, ErrNoVideo or ErrUnsupported, which end a
	// one-shot command but are retried with backoff here, the reason in the
	// state. The daemon sets it.
	Service bool
	// DecoderThreads is FFmpeg's "threads" decoder option; "" means auto.
	DecoderThreads string
	// FramePick is how the picture of a window is found: FramePickExact
	// (the default, ""), FramePickNearestKey or FramePickAll.
	FramePick string
	// FrameTolerance is how far from its target FramePickNearestKey may
	// take a key frame; DefaultFrameTolerance when 0.
	FrameTolerance time.Duration
	// Frames asks for each chosen picture's camera frame at up to
	// media.FrameMaxWidth as well (media.Picture.Frame), for the live
	// view: a second scale and JPEG encode per window.
	Frames bool

	// packetHook, for tests, sees every packet read before it is decoded.
	packetHook func(*astiav.Packet)
}

// Defaults for unset Config fields.
const (
	DefaultOpenTimeout  = 20 * time.Second
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
	// Seq numbers the Source's reported changes from 1, in the order they
	// happened. The camera and a separate microphone report from their
	// own goroutines, after the Source's lock is released, so their
	// callbacks can arrive out of order: a consumer keeps the highest Seq.
	Seq uint64
}

// Stats are a Source's counters since it was created.
type Stats struct {
	Packets      uint64
	DecodeErrors uint64
	Reconnects   uint64
	Stalls       uint64
	// Discontinuities counts the inputs' timestamp jumps by kind:
	// JumpBackward, JumpForward, JumpWrap, JumpReopen.
	Discontinuities map[string]uint64
	// VideoPacketsDecoded counts the video packets sent to the decoder;
	// the rest passed it unopened.
	VideoPacketsDecoded uint64
	// FullDecodeWindows counts, by reason (FullDecodeReasons), the pictures
	// chosen while every video packet was decoded.
	FullDecodeWindows map[string]uint64
	// DriftPPM is how much faster the separate audio input's clock runs
	// than the camera's, in parts per million, as measured and corrected;
	// 0 with one input or until measured.
	DriftPPM float64
}

// jumpKinds indexes Source.jumps.
var jumpKinds = [...]string{JumpBackward, JumpForward, JumpWrap, JumpReopen}

// Source captures one stream and feeds a media.Sink. Create it with New and call
// Run once.
type Source struct {
	cfg   Config
	log   hclog.Logger
	feeds []*feed // the camera input, then a separate microphone

	sinkMu sync.Mutex // serialises the inputs' calls into sink
	sink   media.Sink
	clock  clock

	statusMu      sync.Mutex
	inputStates   map[string]State
	status        Status
	reportedErr   string // the LastError last reported
	onStateChange func(Status)

	pace *pacer

	packets, decodeErrors, reconnects, stalls atomic.Uint64
	video                                     videoStats
	jumps                                     [len(jumpKinds)]atomic.Uint64
}

// New validates cfg and returns a Source that will feed sink. onStateChange,
// if not nil, is called (from the Source's goroutines) on every state
// change; it must not block. Calls from different inputs may overlap and
// arrive out of order: Status.Seq says which is newer.
func New(cfg Config, sink media.Sink, log hclog.Logger, onStateChange func(Status)) (*Source, error) {
	switch cfg.SkipFrame {
	case "", "noref", "nokey":
	default:
		return nil, fmt.Errorf("stream %q: skip_frame %q is not valid; use \"\", \"noref\" or \"nokey\"", cfg.Name, cfg.SkipFrame)
	}
	switch cfg.FramePick {
	case "":
		cfg.FramePick = FramePickExact
	case FramePickExact, FramePickNearestKey, FramePickAll:
	default:
		return nil, fmt.Errorf("stream %q: frame_pick %q is not valid; use %q, %q or %q", cfg.Name, cfg.FramePick, FramePickExact, FramePickNearestKey, FramePickAll)
	}
	if cfg.FramePick == FramePickExact && cfg.SkipFrame != "" {
		return nil, fmt.Errorf("stream %q: skip_frame %q cannot go with frame_pick %q, whose picture is a full decode's", cfg.Name, cfg.SkipFrame, cfg.FramePick)
	}
	setDefault(&cfg.FrameTolerance, DefaultFrameTolerance)
	if cfg.ModelWidth <= 0 || cfg.ModelHeight <= 0 {
		return nil, fmt.Errorf("stream %q: model size %dx%d must be positive", cfg.Name, cfg.ModelWidth, cfg.ModelHeight)
	}
	setDefault(&cfg.Window, media.DefaultWindow)
	setDefault(&cfg.OpenTimeout, DefaultOpenTimeout)
	setDefault(&cfg.StallTimeout, DefaultStallTimeout)
	setDefault(&cfg.BackoffMin, DefaultBackoffMin)
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = max(DefaultBackoffMax, cfg.BackoffMin)
	}
	s := &Source{cfg: cfg, sink: sink, log: log, onStateChange: onStateChange,
		inputStates: map[string]State{}, status: Status{State: StateConnecting, Since: time.Now()}}
	main, err := newFeed(s, 0, cfg.Input, role{video: true, audio: cfg.Audio == ""}, cfg.InputOptions)
	if err != nil {
		return nil, fmt.Errorf("stream %q: %w", cfg.Name, err)
	}
	s.feeds = []*feed{main}
	if cfg.Audio != "" {
		mic, err := newFeed(s, 1, cfg.Audio, role{audio: true}, cfg.AudioOptions)
		if err != nil {
			return nil, fmt.Errorf("stream %q audio: %w", cfg.Name, err)
		}
		s.feeds = append(s.feeds, mic)
	}
	// Two files are read as fast as they decode, each in its own goroutine;
	// in real time or live, the clock paces them.
	s.pace = newPacer(len(s.feeds) == 2 && !main.spec.live && !s.feeds[1].spec.live && !cfg.Realtime)
	return s, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// Status returns the current state and last error.
func (s *Source) Status() Status {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	return s.status
}

// Stats returns the counters.
func (s *Source) Stats() Stats {
	st := Stats{Packets: s.packets.Load(), DecodeErrors: s.decodeErrors.Load(),
		Reconnects: s.reconnects.Load(), Stalls: s.stalls.Load(), Discontinuities: map[string]uint64{}}
	for i, kind := range jumpKinds {
		if n := s.jumps[i].Load(); n > 0 {
			st.Discontinuities[kind] = n
		}
	}
	st.VideoPacketsDecoded = s.video.packetsDecoded.Load()
	st.FullDecodeWindows = map[string]uint64{}
	for i, r := range FullDecodeReasons {
		if n := s.video.fullWindows[i].Load(); n > 0 {
			st.FullDecodeWindows[r] = n
		}
	}
	if len(s.feeds) == 2 {
		st.DriftPPM = s.feeds[1].driftPPM() - s.feeds[0].driftPPM()
	}
	return st
}

func (s *Source) countJump(kind string) {
	for i, k := range jumpKinds {
		if k == kind {
			s.jumps[i].Add(1)
		}
	}
}

// Run captures until ctx is cancelled, the main input (a file) ends, or an
// error no reconnect can fix. A file that ends, and a cancelled ctx, return
// nil.
func (s *Source) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var err error
	if len(s.feeds) == 1 {
		err = s.feeds[0].run(ctx)
	} else {
		var wg sync.WaitGroup
		var audioErr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			audioErr = s.feeds[1].run(ctx)
			if audioErr != nil {
				cancel() // a broken microphone config stops the stream as a whole
			}
		}()
		err = s.feeds[0].run(ctx)
		if err != nil || s.feeds[1].spec.live {
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
	s.stopped(err)
	return err
}

// setState records an input's state and derives the Source's: the worst
// state among its inputs.
func (s *Source) setState(input string, st State, lastErr string) {
	s.statusMu.Lock()
	s.inputStates[input] = st
	overall := StateRunning
	for _, is := range s.inputStates {
		if is == StateReconnecting || (is == StateConnecting && overall == StateRunning) {
			overall = is
		}
	}
	if lastErr != "" || overall == StateRunning {
		s.status.LastError = lastErr
	}
	s.publish(overall)
}

// stopped records the end of Run: the error it returned, and none after a
// clean end or cancel, whatever an input met before.
func (s *Source) stopped(err error) {
	s.statusMu.Lock()
	s.status.LastError = ""
	if err != nil {
		s.status.LastError = err.Error()
	}
	s.publish(StateStopped)
}

// publish sets the overall state, numbers a change, releases statusMu, and
// logs and reports the change.
func (s *Source) publish(overall State) {
	changed := overall != s.status.State || s.status.LastError != s.reportedErr
	if overall != s.status.State {
		s.status.Since = time.Now()
	}
	if changed {
		s.status.Seq++ // under statusMu: the order the changes happened in
	}
	s.status.State = overall
	s.reportedErr = s.status.LastError
	status := s.status
	s.statusMu.Unlock()
	if !changed {
		return
	}
	if status.LastError != "" {
		s.log.Info("stream state", "state", status.State, "error", status.LastError)
	} else {
		s.log.Info("stream state", "state", status.State)
	}
	if s.onStateChange != nil {
		s.onStateChange(status)
	}
}

func (s *Source) sinkCall(f func(media.Sink)) {
	s.sinkMu.Lock()
	defer s.sinkMu.Unlock()
	f(s.sink)
}

// clock is a Source's stream timeline against the monotonic clock: position
// 0 is the arrival of the first media.
type clock struct {
	once sync.Once
	zero time.Time
}

// at returns the timeline position of instant t. The first call makes t
// position 0 and calls first, before any other call returns.
func (c *clock) at(t time.Time, first func(zero time.Time)) time.Duration {
	c.once.Do(func() {
		c.zero = t
		first(t)
	})
	return t.Sub(c.zero)
}

// Bounds on how far before its arrival here the sender may say position 0
// was captured (RTCP sender reports). A sender clock further off than that
// is not synchronised, and its time is not used.
const (
	maxSenderLag  = 30 * time.Second
	maxSenderLead = time.Second
)

// senderAnchor moves the wall-clock time of position 0 to when the sender
// says it captured it: sent is the sender's wall-clock time of position 0.
// The monotonic reading moves with it, so ages stay monotonic.
func (s *Source) senderAnchor(sent time.Time, input string) {
	lag := s.clock.zero.Sub(sent) // wall clocks: the sender's against ours
	if lag < -maxSenderLead || lag > maxSenderLag {
		s.log.Warn("the sender's clock disagrees with this machine's; windows keep the arrival time", "input", input, "off_by", lag.Round(time.Millisecond))
		return
	}
	s.sinkCall(func(k media.Sink) { k.Anchor(s.clock.zero.Add(-lag)) })
}

// lockedSink serialises input index's calls into the Source's sink and
// paces two file inputs.
type lockedSink struct {
	s     *Source
	index int
}

func (l lockedSink) Anchor(time.Time) {}
func (l lockedSink) Audio(pos time.Duration, samples []int16) {
	l.s.pace.advance(l.index, pos)
	l.s.sinkCall(func(k media.Sink) { k.Audio(pos, samples) })
}
func (l lockedSink) PictureTarget() (t time.Duration) {
	l.s.sinkCall(func(k media.Sink) { t = k.PictureTarget() })
	return t
}
func (l lockedSink) Picture(p media.Picture) {
	l.s.sinkCall(func(k media.Sink) { k.Picture(p) })
}
func (l lockedSink) VideoAt(pos time.Duration) {
	l.s.pace.advance(l.index, pos)
	l.s.sinkCall(func(k media.Sink) { k.VideoAt(pos) })
}
func (l lockedSink) Gap(from, to time.Duration) {
	l.s.sinkCall(func(k media.Sink) { k.Gap(from, to) })
}

// AlignGrid passes a key frame's position to a media.GridSink; other sinks
// do not get it.
func (l lockedSink) AlignGrid(pos time.Duration) {
	l.s.sinkCall(func(k media.Sink) {
		if g, ok := k.(media.GridSink); ok {
			g.AlignGrid(pos)
		}
	})
}

// float64 bits, so a drift can be read from Stats while its input runs.
type atomicFloat struct{ bits atomic.Uint64 }

func (f *atomicFloat) store(v float64) { f.bits.Store(math.Float64bits(v)) }
func (f *atomicFloat) load() float64   { return math.Float64frombits(f.bits.Load()) }
