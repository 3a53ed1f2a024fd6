package daemon

import (
	"github.com/garssl/garssld/media"
	"sync/atomic"
	"time"

	"github.com/garssl/garssld/windowing"
)

// watchedSink is the media.Sink of one capture session: the stream's
// windowing.Cutter, watched. It keeps a copy of the cutter's counters that
// other goroutines (the metrics scrape) may read, since the cutter itself
// is touched only by the capture's goroutines; and it records when the
// capture last got through a call and whether one is stuck, which is what
// the stream supervisor proves progress with to the watchdog.
//
// The calls that deliver media (Audio, ArrayAudio, VideoAt, Picture) are watched; the
// rest reach the cutter through the embedded pointer.
type watchedSink struct {
	*windowing.Cutter
	epoch time.Time // monotonic origin of the readings below
	// callStart is when the call in progress began (ns since epoch), 0
	// when none is; lastReturn is when a call last returned.
	callStart, lastReturn atomic.Int64
	stats                 atomic.Pointer[windowing.Stats]
	// before, when set, runs at the start of every watched call (tests
	// make a call hang with it).
	before func()
}

func newWatchedSink(c *windowing.Cutter, before func()) *watchedSink {
	s := &watchedSink{Cutter: c, epoch: time.Now(), before: before}
	st := c.Stats()
	s.stats.Store(&st)
	s.lastReturn.Store(1)
	return s
}

func (s *watchedSink) since() int64 { return max(1, int64(time.Since(s.epoch))) }

// enter and leave bracket a watched call; leave refreshes the counters.
func (s *watchedSink) enter() {
	s.callStart.Store(s.since())
	if s.before != nil {
		s.before()
	}
}

func (s *watchedSink) leave() {
	st := s.Cutter.Stats()
	s.stats.Store(&st)
	s.callStart.Store(0)
	s.lastReturn.Store(s.since())
}

// Audio implements media.Sink.
func (s *watchedSink) Audio(pos time.Duration, samples []int16) {
	s.enter()
	defer s.leave()
	s.Cutter.Audio(pos, samples)
}

// ArrayAudio implements media.ArraySink.
func (s *watchedSink) ArrayAudio(pos time.Duration, rate int, channels [][]float32) {
	s.enter()
	defer s.leave()
	s.Cutter.ArrayAudio(pos, rate, channels)
}

// VideoAt implements media.Sink.
func (s *watchedSink) VideoAt(pos time.Duration) {
	s.enter()
	defer s.leave()
	s.Cutter.VideoAt(pos)
}

// Picture implements media.Sink.
func (s *watchedSink) Picture(p media.Picture) {
	s.enter()
	defer s.leave()
	s.Cutter.Picture(p)
}

// Flush closes the windows the end of a file allows; call it only after
// the capture's Run returned.
func (s *watchedSink) Flush() {
	s.enter()
	defer s.leave()
	s.Cutter.Flush()
}

// Stats returns the cutter's counters as of the last watched call; safe
// from any goroutine.
func (s *watchedSink) Stats() windowing.Stats { return *s.stats.Load() }

// progress says how long the call in progress has been running (0 when
// none is) and how long ago a call last returned.
func (s *watchedSink) progress() (inCall, sinceReturn time.Duration) {
	now := s.since()
	if start := s.callStart.Load(); start > 0 {
		inCall = time.Duration(now - start)
	}
	return inCall, time.Duration(now - s.lastReturn.Load())
}
