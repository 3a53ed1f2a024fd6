package windowing

import (
	"fmt"
	"github.com/garssl/garssld/media"
	"time"
)

// Defaults for a Config.
const (
	DefaultLength = media.DefaultWindow
	DefaultHop    = 3 * time.Second
	// LagAllowance is how far one medium may run ahead of the other before
	// a window is closed without waiting any longer.
	LagAllowance = 2 * time.Second
	// AudioJitter is the timestamp slack within which audio counts as
	// contiguous.
	AudioJitter = media.AudioJitter
)

// Config sets up a Cutter.
type Config struct {
	Stream string
	Length time.Duration
	Hop    time.Duration
}

// Validate reports a window length or hop the cutter cannot honour.
func (c Config) Validate() error {
	if c.Length <= 0 || c.Hop <= 0 {
		return fmt.Errorf("window %v and hop %v must be positive", c.Length, c.Hop)
	}
	if c.Length%(time.Second/SampleRate) != 0 || c.Hop%(time.Second/SampleRate) != 0 {
		return fmt.Errorf("window %v and hop %v must be whole multiples of one 16 kHz sample (62.5µs)", c.Length, c.Hop)
	}
	return nil
}

// Drop reasons, as counted in Stats and exported as metric labels.
const (
	// DropNoFrame counts windows without a picture near their centre.
	DropNoFrame = "no_frame"
	// DropGap counts gaps longer than a window (an outage): one per gap,
	// however many windows it swallowed; their seq numbers are skipped.
	DropGap = "gap"
)

// Stats are a Cutter's counters.
type Stats struct {
	Emitted       uint64
	Dropped       map[string]uint64
	SilenceFilled uint64 // samples
	AudioDropped  uint64 // overlapping samples discarded
}

// Cutter implements media.Sink for one stream and calls emit with each
// finished window. It is not safe for concurrent use; capture
// serialises its calls.
type Cutter struct {
	cfg                         Config
	lengthSamples, hopSamples   int64
	emit                        func(Window)
	anchor                      time.Time
	seqBase                     uint64 // seq of slot 0 of the current grid, minus 1
	gridStart                   int64  // sample index of slot 0 of the current grid
	next                        int64  // lowest slot not yet closed
	picSlot                     int64  // lowest slot without a picture
	pics                        map[int64]media.Picture
	buf                         []int16 // samples from bufStart
	bufStart                    int64
	audioSeen                   bool
	gaps                        []span // silence-filled sample ranges not yet passed
	array                       arrayBuffer
	videoAt                     time.Duration
	aligned                     bool // the current grid was placed by AlignGrid
	stats                       Stats
	lengthDur, hopDur, halfDur  time.Duration
	maxLagSamples, jitterSample int64
	now                         func() time.Time // the clock windows are cut by
}

type span struct{ from, to int64 }

// NewCutter returns a Cutter for cfg that hands finished windows to emit.
func NewCutter(cfg Config, emit func(Window)) (*Cutter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("stream %q: %w", cfg.Stream, err)
	}
	c := &Cutter{
		cfg: cfg, emit: emit,
		lengthSamples: samplesAt(cfg.Length), hopSamples: samplesAt(cfg.Hop),
		lengthDur: cfg.Length, hopDur: cfg.Hop, halfDur: cfg.Length / 2,
		maxLagSamples: samplesAt(LagAllowance), jitterSample: samplesAt(AudioJitter),
		pics:  map[int64]media.Picture{},
		stats: Stats{Dropped: map[string]uint64{}},
		now:   time.Now,
	}
	return c, nil
}

// samplesAt converts a timeline position to a 16 kHz sample index, rounding
// to the nearest sample.
func samplesAt(d time.Duration) int64 {
	return (int64(d)*SampleRate + int64(time.Second)/2) / int64(time.Second)
}

// floorSamples is the last 16 kHz sample index at or before d.
func floorSamples(d time.Duration) int64 {
	n := int64(d) * SampleRate
	q := n / int64(time.Second)
	if n%int64(time.Second) < 0 {
		q--
	}
	return q
}

func durationOf(samples int64) time.Duration {
	return time.Duration(samples * int64(time.Second) / SampleRate)
}

// Stats returns a copy of the counters.
func (c *Cutter) Stats() Stats {
	s := c.stats
	s.Dropped = make(map[string]uint64, len(c.stats.Dropped))
	for k, v := range c.stats.Dropped {
		s.Dropped[k] = v
	}
	return s
}

func (c *Cutter) slotStart(k int64) int64 { return c.gridStart + k*c.hopSamples }
func (c *Cutter) slotEnd(k int64) int64   { return c.slotStart(k) + c.lengthSamples }

// Anchor implements media.Sink.
func (c *Cutter) Anchor(wall time.Time) { c.anchor = wall }

// PictureTarget implements media.Sink: the centre of the lowest slot that
// has no picture yet.
func (c *Cutter) PictureTarget() time.Duration {
	return durationOf(c.slotStart(c.picSlot)) + c.halfDur
}

// AlignGrid implements media.GridSink. While the current grid has neither
// closed a window nor taken a picture, it moves forward by less than one hop
// so that a window's centre falls on the key frame at pos (or, for a key
// frame before the first centre, a whole number of hops after it): a
// camera's key frames then fall on centres again wherever its GOP divides
// a multiple of the hop (a 1 s GOP and a 3 s hop: every window; a 2 s GOP:
// every other one).
// The sound before the moved grid's first window (less than a hop) belongs
// to no window. A grid is placed once; a gap starts a new one.
func (c *Cutter) AlignGrid(pos time.Duration) {
	if c.aligned || c.next != 0 || c.picSlot != 0 || len(c.pics) > 0 {
		return
	}
	c.aligned = true
	// The smallest start at or after the grid's own whose window is
	// centred on pos plus a whole number of hops. Starts are whole 16 kHz
	// samples: rounded down, so that the centre lies at or just before the
	// key frame, which is then the first frame at or past the target.
	centredAt := floorSamples(pos - c.halfDur)
	shift := (centredAt - c.gridStart) % c.hopSamples
	if shift < 0 {
		shift += c.hopSamples
	}
	if shift == 0 {
		return
	}
	start := c.gridStart + shift
	c.gridStart = start
	if !c.audioSeen {
		return
	}
	if written := c.bufStart + int64(len(c.buf)); written > start {
		c.buf = c.buf[:copy(c.buf, c.buf[start-c.bufStart:])]
	} else {
		c.buf = c.buf[:0]
	}
	c.bufStart = start
	c.forgetFilledBefore(start)
	c.arrayAdvance(start)
}

// Picture implements media.Sink.
func (c *Cutter) Picture(p media.Picture) {
	if p.Target != c.PictureTarget() {
		return // chosen for a grid a gap has replaced
	}
	c.pics[c.picSlot] = p
	c.picSlot++
	c.closeReady(false)
}

// VideoAt implements media.Sink.
func (c *Cutter) VideoAt(pos time.Duration) {
	if pos > c.videoAt {
		c.videoAt = pos
	}
	c.closeReady(false)
}

// Audio implements media.Sink.
func (c *Cutter) Audio(pos time.Duration, samples []int16) {
	at := samplesAt(pos)
	written := c.bufStart + int64(len(c.buf))
	if !c.audioSeen {
		c.audioSeen = true
		written = c.slotStart(c.next)
		c.bufStart, c.buf = written, c.buf[:0]
	}
	switch {
	case at > written+c.lengthSamples+c.maxLagSamples:
		// Capture reports outages as gaps; a hole this long is not filled
		// whatever its cause, so memory stays bounded.
		c.Gap(durationOf(written), pos)
	case at > written+c.jitterSample:
		c.fillSilence(written, at)
	case at < written-c.jitterSample:
		overlap := written - at
		if overlap >= int64(len(samples)) {
			c.stats.AudioDropped += uint64(len(samples))
			return
		}
		c.stats.AudioDropped += uint64(overlap)
		samples = samples[overlap:]
	}
	c.buf = append(c.buf, samples...)
	c.closeReady(false)
}

func (c *Cutter) fillSilence(from, to int64) {
	if from < c.bufStart {
		from = c.bufStart
	}
	if to <= from {
		return
	}
	c.gaps = append(c.gaps, span{from, to})
	c.buf = append(c.buf, make([]int16, to-from)...)
	c.stats.SilenceFilled += uint64(to - from)
}

// Gap implements media.Sink: the stream has no media in [from, to). The
// windows it touches are lost, counted as one DropGap, and their seq numbers
// are skipped; a new grid starts at to, where media resumes.
func (c *Cutter) Gap(from, to time.Duration) {
	c.closeReady(false)
	resume := samplesAt(to)
	var lost int64
	if start := c.slotStart(c.next); resume > start {
		lost = (resume - start + c.hopSamples - 1) / c.hopSamples
	}
	if lost > 0 {
		c.stats.Dropped[DropGap]++
	}
	c.seqBase = c.seqOf(c.next+lost) - 1
	c.gridStart, c.aligned = resume, false
	c.next, c.picSlot = 0, 0
	clear(c.pics)
	// Audio of a separate microphone may already have arrived past the gap.
	if written := c.bufStart + int64(len(c.buf)); written > resume && resume >= c.bufStart {
		n := copy(c.buf, c.buf[resume-c.bufStart:])
		c.buf = c.buf[:n]
		c.forgetFilledBefore(resume)
	} else {
		c.buf = c.buf[:0]
		c.audioSeen = false
		c.gaps = c.gaps[:0]
	}
	c.bufStart = resume
	c.videoAt = max(c.videoAt, to)
}

// Flush closes what the end of the media allows; call it when the Source's
// Run has returned. Windows reaching past the end are not emitted.
func (c *Cutter) Flush() { c.closeReady(true) }

func (c *Cutter) seqOf(k int64) uint64 { return c.seqBase + uint64(k) + 1 }

// closeReady emits or drops every slot, lowest first, whose fate is decided.
func (c *Cutter) closeReady(final bool) {
	for {
		k := c.next
		end := c.slotEnd(k)
		written := c.bufStart + int64(len(c.buf))
		videoSamples := samplesAt(c.videoAt)
		audioDone := written >= end
		audioGivenUp := videoSamples >= end+c.maxLagSamples
		pic, hasPic := c.pics[k]
		picGivenUp := !hasPic && (written >= end+c.maxLagSamples || final)
		switch {
		case (audioDone || audioGivenUp) && hasPic:
			c.close(k, pic)
		case (audioDone || audioGivenUp) && picGivenUp:
			c.drop(k, DropNoFrame)
		case final && videoSamples >= end && hasPic:
			// At the end of a file the microphone stopped first: the video
			// shows the window ended, so the rest is silence.
			c.close(k, pic)
		default:
			return
		}
	}
}

// close emits slot k with its picture, or drops it when no frame was near
// enough to its centre. The wall-clock times are taken from the clock now:
// they follow the system clock and carry a monotonic reading, so the age of
// a window is time.Since(w.WallEnd) whatever the system clock does; a window
// of a file read faster than real time ends now, never in the future.
func (c *Cutter) close(k int64, pic media.Picture) {
	if pic.JPEG == nil {
		c.drop(k, DropNoFrame)
		return
	}
	start, end := c.slotStart(k), c.slotEnd(k)
	written := c.bufStart + int64(len(c.buf))
	if written < end {
		c.fillSilence(written, end)
	}
	samples := c.buf[start-c.bufStart : end-c.bufStart]
	w := Window{
		Stream: c.cfg.Stream, Seq: c.seqOf(k),
		PTSStart: durationOf(start), PTSEnd: durationOf(end), FramePTS: pic.Pos,
		JPEG: pic.JPEG, Width: pic.Width, Height: pic.Height,
		ModelWidth: pic.ModelWidth, ModelHeight: pic.ModelHeight,
		Frame: pic.Frame, FrameWidth: pic.FrameWidth, FrameHeight: pic.FrameHeight,
		WAV: EncodeWAV(samples), Samples: len(samples),
		SilenceFilled: int(c.gapSamples(start, end)),
		RMSDBFS:       RMSDBFS(samples),
		Array:         c.arrayWindow(start, end),
	}
	if !c.anchor.IsZero() {
		now := c.now()
		age := max(0, now.Sub(c.anchor.Add(w.PTSEnd)))
		w.WallEnd = now.Add(-age)
		w.WallStart = w.WallEnd.Add(-(w.PTSEnd - w.PTSStart))
	}
	c.advance(k)
	c.stats.Emitted++
	c.emit(w)
}

func (c *Cutter) drop(k int64, reason string) {
	c.stats.Dropped[reason]++
	c.advance(k)
}

// advance retires slot k and releases the audio that no later slot needs
// and that lies more than a window and LagAllowance behind the newest
// sample. A camera reports its gap only once its reopened input has been
// probed, while a separate microphone's sound runs on; the grid the gap
// starts may then begin behind slots already closed for want of a picture,
// and its windows still get the sound from where the camera resumed. (A
// resume further behind is a hole Audio does not fill either.)
func (c *Cutter) advance(k int64) {
	delete(c.pics, k)
	c.next = k + 1
	if c.picSlot < c.next {
		c.picSlot = c.next
	}
	written := c.bufStart + int64(len(c.buf))
	keepFrom := min(c.slotStart(c.next), written-c.lengthSamples-c.maxLagSamples)
	if drop := keepFrom - c.bufStart; drop > 0 {
		if drop >= int64(len(c.buf)) {
			c.buf = c.buf[:0]
		} else {
			// Shift rather than reslice so the buffer's storage stays
			// bounded by a window and LagAllowance plus what is buffered
			// ahead.
			n := copy(c.buf, c.buf[drop:])
			c.buf = c.buf[:n]
		}
		c.bufStart = keepFrom
	}
	c.forgetFilledBefore(keepFrom)
	c.arrayAdvance(keepFrom)
}

// forgetFilledBefore drops the silence-filled spans that end before at,
// whose audio has left the buffer.
func (c *Cutter) forgetFilledBefore(at int64) {
	live := c.gaps[:0]
	for _, g := range c.gaps {
		if g.to > at {
			live = append(live, g)
		}
	}
	c.gaps = live
}

func (c *Cutter) gapSamples(start, end int64) int64 {
	var n int64
	for _, g := range c.gaps {
		from, to := max(g.from, start), min(g.to, end)
		if to > from {
			n += to - from
		}
	}
	return n
}
