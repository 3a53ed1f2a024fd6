//go:build unix

package schedule_test

import (
	"context"
	"fmt"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/schedule"
	"github.com/garssl/garssld/windowing"
)

// BenchmarkOverhead is the scheduler's own cost per window, against a
// Localizer that returns at once: a baseline for the daemon's CPU budget
// (one window per stream every 3 s).
//
//   - direct: no scheduler; the loop calls Localize, builds the payload and
//     publishes, as a daemon without scheduling would. The baseline.
//   - scheduled/streams=N: windows of N streams through Submit: queue,
//     round-robin admission, deadline contexts, one goroutine per window,
//     payload, publish. Loud windows; at most 32 outstanding, so nothing is
//     dropped and every window is measured end to end.
//   - scheduled-silent: silent windows, published from Submit.
//
// cpu-ns/window is the process's user+system CPU time (getrusage, all
// threads) per window: what the daemon's budget is counted in. ns/op is
// wall time, which two cores can overlap.
func BenchmarkOverhead(b *testing.B) {
	result := okResult()
	noop := schedule.LocalizerFunc(func(context.Context, gar.Input) gar.Result { return result })
	m := sharedMedia(b)
	base := windowing.Window{
		JPEG: m.jpeg, WAV: m.loud, RMSDBFS: m.loudDBFS, Samples: 3 * windowing.SampleRate,
		Width: 1280, Height: 720, ModelWidth: modelSize, ModelHeight: modelSize,
	}

	b.Run("direct", func(b *testing.B) {
		sink := make(chan *gar.Detection, 1)
		b.ReportAllocs()
		defer reportCPU(b)()
		for i := 0; b.Loop(); i++ {
			w := base
			w.Stream, w.Seq, w.WallEnd = "s0", uint64(i), time.Now()
			res := noop.Localize(context.Background(), gar.Input{
				RequestID: testNode + "/" + w.Stream + "/" + strconv.FormatUint(w.Seq, 10),
				ImageJPEG: w.JPEG, ModelWidth: w.ModelWidth, ModelHeight: w.ModelHeight, WAV: w.WAV,
				FrameWidth: w.Width, FrameHeight: w.Height,
			})
			d := gar.NewDetection(gar.WindowMeta{Node: testNode, RunID: testRunID, Stream: w.Stream, Seq: w.Seq,
				End: w.WallEnd, FrameWidth: w.Width, FrameHeight: w.Height, RMSDBFS: w.RMSDBFS}, res)
			d.LatencyMS.AgeAtPublish = time.Since(w.WallEnd).Milliseconds()
			sink <- &d
			<-sink
		}
	})
	for _, streams := range []int{1, 4} {
		b.Run(fmt.Sprintf("scheduled/streams=%d", streams), func(b *testing.B) {
			benchScheduled(b, noop, base, streams, false)
		})
	}
	b.Run("scheduled-silent", func(b *testing.B) {
		benchScheduled(b, noop, base, 1, true)
	})
}

func benchScheduled(b *testing.B, loc schedule.Localizer, base windowing.Window, streams int, silent bool) {
	const outstanding = 32
	slots := make(chan struct{}, outstanding)
	s, err := schedule.New(schedule.Config{
		Node: testNode, RunID: testRunID, MaxWindows: 4, WindowDeadline: time.Minute, SilenceDBFS: -60,
	}, loc, func(string, uint64, *gar.Detection) { <-slots })
	if err != nil {
		b.Fatal(err)
	}
	names := make([]string, streams)
	for i := range names {
		names[i] = "s" + strconv.Itoa(i)
		if err := s.Add(schedule.StreamConfig{Name: names[i], MaxQueue: 2 * outstanding, StaleAfter: time.Minute}); err != nil {
			b.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	if silent {
		base.WAV, base.RMSDBFS = sharedMedia(b).silent, windowing.MinDBFS
	}
	b.ReportAllocs()
	report := reportCPU(b)
	for i := 0; b.Loop(); i++ {
		slots <- struct{}{}
		w := base
		w.Stream, w.Seq, w.WallEnd = names[i%streams], uint64(i), time.Now()
		if err := s.Submit(w); err != nil {
			b.Fatal(err)
		}
	}
	for range outstanding { // every window published
		slots <- struct{}{}
	}
	report()
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// reportCPU starts measuring the process's CPU time; the returned function
// reports it per iteration as cpu-ns/window.
func reportCPU(b *testing.B) func() {
	began := cpuTime(b)
	return func() {
		b.ReportMetric(float64((cpuTime(b)-began).Nanoseconds())/float64(b.N), "cpu-ns/window")
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
