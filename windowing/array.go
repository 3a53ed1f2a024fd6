package windowing

import (
	"time"

	"github.com/garssl/garssld/media"
)

// arrayBuffer holds a microphone array's recent sound at the array's own
// rate, indexed like the mono buffer but in samples at that rate. The mono
// buffer decides what a window is; this one only follows it, so that a
// window's Array covers exactly its WAV's stretch of time.
type arrayBuffer struct {
	rate  int         // 0 until the first ArrayAudio: the stream has no array
	start int64       // sample index (at rate) of chans[i][0]
	chans [][]float32 // one per microphone, all of one length
	seen  bool        // start is set
}

// at converts a timeline position to a sample index at the array's rate.
func (a *arrayBuffer) at(d time.Duration) int64 {
	return (int64(d)*int64(a.rate) + int64(time.Second)/2) / int64(time.Second)
}

// fromMono converts a 16 kHz sample index to one at the array's rate.
func (a *arrayBuffer) fromMono(s int64) int64 {
	return (s*int64(a.rate) + SampleRate/2) / SampleRate
}

func (a *arrayBuffer) written() int64 {
	if len(a.chans) == 0 {
		return a.start
	}
	return a.start + int64(len(a.chans[0]))
}

func (a *arrayBuffer) clear() {
	for i := range a.chans {
		a.chans[i] = a.chans[i][:0]
	}
	a.seen = false
}

// dropBefore forgets the samples before index at.
func (a *arrayBuffer) dropBefore(at int64) {
	drop := at - a.start
	if drop <= 0 {
		return
	}
	for i, ch := range a.chans {
		if drop >= int64(len(ch)) {
			a.chans[i] = ch[:0]
		} else {
			// Shift rather than reslice, as the mono buffer does, so the
			// storage stays bounded.
			a.chans[i] = ch[:copy(ch, ch[drop:])]
		}
	}
	a.start = at
}

// ArrayAudio implements media.ArraySink: a microphone array's sound, kept
// on the same rules as Audio's (jitter, overlap, holes filled with silence)
// for the windows the mono sound cuts.
func (c *Cutter) ArrayAudio(pos time.Duration, rate int, channels [][]float32) {
	a := &c.array
	if rate <= 0 || len(channels) == 0 {
		return
	}
	if rate != a.rate || len(channels) != len(a.chans) {
		// A format change mid-stream: what is buffered is at another
		// rate or of another array, and cannot be mixed with what comes.
		a.rate, a.chans, a.seen = rate, make([][]float32, len(channels)), false
	}
	n := int64(len(channels[0]))
	at := a.at(pos)
	if !a.seen {
		a.clear()
		a.seen, a.start = true, at
	}
	written := a.written()
	jitter := a.at(AudioJitter)
	skip := int64(0)
	switch {
	case at > written+a.at(c.lengthDur+LagAllowance):
		// A hole the mono sound does not fill either: start afresh.
		a.clear()
		a.seen, a.start = true, at
	case at > written+jitter:
		for i := range a.chans {
			a.chans[i] = append(a.chans[i], make([]float32, at-written)...)
		}
	case at < written-jitter:
		if skip = written - at; skip >= n {
			return
		}
	}
	for i, ch := range channels {
		a.chans[i] = append(a.chans[i], ch[skip:]...)
	}
	// The mono buffer's trimming (advance) keeps this one bounded too; this
	// bound holds should the mono sound stop arriving.
	if keep := a.at(c.lengthDur + 2*LagAllowance); a.written()-a.start > keep {
		a.dropBefore(a.written() - keep)
	}
}

// arrayWindow copies the array's sound for the 16 kHz sample range [start,
// end), silent where the buffer has nothing and wherever the mono sound was
// silence-filled; nil when the stream delivered no array sound.
func (c *Cutter) arrayWindow(start, end int64) *media.ArrayAudio {
	a := &c.array
	if a.rate == 0 {
		return nil
	}
	from, to := a.fromMono(start), a.fromMono(end)
	out := &media.ArrayAudio{Rate: a.rate, Channels: make([][]float32, len(a.chans))}
	for i, ch := range a.chans {
		w := make([]float32, to-from)
		lo, hi := max(from, a.start), min(to, a.start+int64(len(ch)))
		if hi > lo {
			copy(w[lo-from:], ch[lo-a.start:hi-a.start])
		}
		for _, g := range c.gaps {
			gl, gh := max(a.fromMono(g.from), from), min(a.fromMono(g.to), to)
			if gh > gl {
				clear(w[gl-from : gh-from])
			}
		}
		out.Channels[i] = w
	}
	return out
}

// arrayAdvance follows advance: the array's sound before keepFrom (16 kHz
// index) no later window needs.
func (c *Cutter) arrayAdvance(keepFrom int64) {
	if c.array.rate > 0 {
		c.array.dropBefore(c.array.fromMono(keepFrom))
	}
}
