package capture

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// pk is one packet of a timeline test: stream 0 is video at 25 fps, stream 1
// audio in 1024-sample AAC frames at 48 kHz, both on MPEG-TS's 90 kHz clock.
type pk struct {
	stream  int
	ts      time.Duration // the raw timestamp as a duration (before the 33-bit mask)
	arrival time.Duration
	raw     int64 // when set, the raw ticks instead of ts
}

var ts90k = rational{1, 90000}

func (p pk) stamp() stamp {
	ticks := p.raw
	if ticks == 0 {
		ticks = ts90k.fromNanos(p.ts)
	}
	dur := int64(3600)
	if p.stream == 1 {
		dur = 1920
	}
	return stamp{stream: p.stream, dts: ticks, pts: ticks, dur: dur, tb: ts90k, wrapBits: 33, arrival: p.arrival}
}

// av returns interleaved packets of both streams covering [from, to) of
// media time, arriving in real time from arriveFrom (files: arrival 0).
func av(from, to, arriveFrom time.Duration, live bool) []pk {
	var out []pk
	const frame, aframe = 40 * time.Millisecond, 21333333 * time.Nanosecond
	v, a := from, from
	for v < to || a < to {
		if v <= a && v < to {
			out = append(out, pk{stream: 0, ts: v, arrival: arrivalOf(v-from+arriveFrom, live)})
			v += frame
		} else {
			out = append(out, pk{stream: 1, ts: a, arrival: arrivalOf(a-from+arriveFrom, live)})
			a += aframe
		}
	}
	return out
}

func arrivalOf(d time.Duration, live bool) time.Duration {
	if !live {
		return 0
	}
	return d
}

// run feeds packets and returns the placements in order and the jumps by
// kind, checking the invariants every placement must hold.
func runTimeline(t *testing.T, tl *timeline, packets []pk) ([]placement, map[string]int, int) {
	t.Helper()
	jumps := map[string]int{}
	wraps := 0
	var out []placement
	last := map[int]time.Duration{}
	var end time.Duration
	for i, p := range packets {
		pl, ok := tl.place(p.stamp())
		if !ok {
			t.Fatalf("packet %d not placed", i)
		}
		if pl.jump != "" {
			jumps[pl.jump]++
		}
		if pl.wrapped {
			wraps++
		}
		if l, seen := last[p.stream]; seen && pl.at < l-backwardTolerance {
			t.Fatalf("packet %d (stream %d, ts %v): position %v is before the stream's last %v", i, p.stream, p.ts, pl.at, l)
		}
		if tl.reached() < end {
			t.Fatalf("packet %d: the input's end went back from %v to %v", i, end, tl.reached())
		}
		end = tl.reached()
		last[p.stream] = pl.at
		out = append(out, pl)
	}
	return out, jumps, wraps
}

func TestTimelineTable(t *testing.T) {
	s, h := time.Second, time.Hour
	wrapAt := ts90k.toNanos(1 << 33)
	cat := func(parts ...[]pk) []pk {
		var out []pk
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		name    string
		live    bool
		packets []pk
		reopen  int // call reopen before this packet index (0: never)
		// the position of the first packet of the last segment, and of
		// the last packet, within 100 ms
		wantResume, wantLast time.Duration
		resumeAt             int // index of the first packet of the last segment
		wantJumps            map[string]int
		wantWraps            int
		wantGap              time.Duration // the longest gap reported, within 100 ms
	}{
		{
			name: "continuous file starts at 0", packets: av(1400*time.Millisecond, 11400*time.Millisecond, 0, false),
			wantResume: 0, wantLast: 10*s - 40*time.Millisecond,
		},
		{
			name: "cat a.ts b.ts: b restarts at 0 after a ends at 40 s", packets: cat(av(30*s, 40*s, 0, false), av(1400*time.Millisecond, 11400*time.Millisecond, 0, false)),
			resumeAt: len(av(30*s, 40*s, 0, false)), wantResume: 10 * s, wantLast: 20*s - 40*time.Millisecond,
			wantJumps: map[string]int{JumpBackward: 1},
		},
		{
			name: "file jumps 10 h forward: it continues where it was", packets: cat(av(0, 10*s, 0, false), av(10*h, 10*h+10*s, 0, false)),
			resumeAt: len(av(0, 10*s, 0, false)), wantResume: 10 * s, wantLast: 20*s - 40*time.Millisecond,
			wantJumps: map[string]int{JumpForward: 1},
		},
		{
			name: "file jumps 2 s forward: a gap, filled", packets: cat(av(0, 10*s, 0, false), av(12*s, 20*s, 0, false)),
			resumeAt: len(av(0, 10*s, 0, false)), wantResume: 12 * s, wantLast: 20*s - 40*time.Millisecond,
		},
		{
			name: "FFmpeg turned a 900 s backward jump into +26.5 h", packets: cat(av(1000*s, 1010*s, 0, false),
				rawShift(av(100*s, 110*s, 0, false), int64(1)<<33)),
			resumeAt: len(av(1000*s, 1010*s, 0, false)), wantResume: 10 * s, wantLast: 20*s - 40*time.Millisecond,
			wantJumps: map[string]int{JumpBackward: 1},
		},
		{
			name: "33-bit wrap after a forward jump to just below it", packets: cat(av(2*s, 8*s, 0, false),
				masked(av(wrapAt-3*s, wrapAt+3*s, 0, false))),
			resumeAt: len(av(2*s, 8*s, 0, false)), wantResume: 6 * s, wantLast: 12*s - 40*time.Millisecond,
			// Modulo 2^33, 26.5 h ahead is 11 s back: either is a jump,
			// and a file continues where it was.
			wantJumps: map[string]int{JumpBackward: 1}, wantWraps: 1,
		},
		{
			name: "live sender pauses 2 s and restarts from 0: placed at its arrival", live: true,
			packets:  cat(av(30*s, 40*s, 0, true), av(1400*time.Millisecond, 11400*time.Millisecond, 12*s, true)),
			resumeAt: len(av(30*s, 40*s, 0, true)), wantResume: 12 * s, wantLast: 22*s - 40*time.Millisecond,
			wantJumps: map[string]int{JumpBackward: 1},
		},
		{
			name: "live input jumps 1 h ahead: placed at its arrival, not in the future", live: true,
			packets:  cat(av(0, 10*s, 0, true), av(h, h+10*s, 10*s, true)),
			resumeAt: len(av(0, 10*s, 0, true)), wantResume: 10 * s, wantLast: 20*s - 40*time.Millisecond,
			wantJumps: map[string]int{JumpForward: 1},
		},
		{
			name: "live sender pauses 10 s with its clock running: a gap, not a jump", live: true,
			packets:  cat(av(0, 10*s, 0, true), av(20*s, 30*s, 20*s, true)),
			resumeAt: len(av(0, 10*s, 0, true)), wantResume: 20 * s, wantLast: 30*s - 40*time.Millisecond,
			wantGap: 10 * s,
		},
		{
			name: "live reopen after a 10 s outage: placed at the first packet's arrival", live: true,
			packets: cat(av(0, 10*s, 0, true), av(1400*time.Millisecond, 11400*time.Millisecond, 20*s, true)),
			reopen:  len(av(0, 10*s, 0, true)), resumeAt: len(av(0, 10*s, 0, true)),
			wantResume: 20 * s, wantLast: 30*s - 40*time.Millisecond,
			wantJumps: map[string]int{JumpReopen: 1}, wantGap: 10 * s,
		},
		{
			name: "looped file: the reopen continues where it ended", packets: cat(av(0, 10*s, 0, false), av(0, 10*s, 0, false)),
			reopen: len(av(0, 10*s, 0, false)), resumeAt: len(av(0, 10*s, 0, false)),
			wantResume: 10 * s, wantLast: 20*s - 40*time.Millisecond,
			wantJumps: map[string]int{JumpReopen: 1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tl := newTimeline(3*s, tc.live)
			var got []placement
			jumps := map[string]int{}
			wraps := 0
			segments := [][]pk{tc.packets}
			if tc.reopen > 0 {
				segments = [][]pk{tc.packets[:tc.reopen], tc.packets[tc.reopen:]}
			}
			for i, seg := range segments {
				if i > 0 {
					tl.reopen()
				}
				pl, j, w := runTimeline(t, tl, seg)
				got = append(got, pl...)
				for k, v := range j {
					jumps[k] += v
				}
				wraps += w
			}
			near := func(what string, got, want time.Duration) {
				t.Helper()
				if d := got - want; d < -100*time.Millisecond || d > 100*time.Millisecond {
					t.Errorf("%s at %v, want %v", what, got, want)
				}
			}
			near("resumed", got[tc.resumeAt].at, tc.wantResume)
			near("last packet", got[len(got)-1].at, tc.wantLast)
			if len(jumps) != len(tc.wantJumps) {
				t.Errorf("jumps %v, want %v", jumps, tc.wantJumps)
			}
			for k, v := range tc.wantJumps {
				if jumps[k] != v {
					t.Errorf("jumps %v, want %v", jumps, tc.wantJumps)
				}
			}
			if wraps != tc.wantWraps {
				t.Errorf("%d wraps, want %d", wraps, tc.wantWraps)
			}
			var gap time.Duration
			for _, p := range got {
				gap = max(gap, p.gapTo-p.gapFrom)
			}
			near("longest gap", gap, tc.wantGap)
		})
	}
}

// rawShift adds ticks to every packet's raw timestamp, as FFmpeg's wrap
// correction does.
func rawShift(ps []pk, ticks int64) []pk {
	for i := range ps {
		ps[i].raw = ts90k.fromNanos(ps[i].ts) + ticks
	}
	return ps
}

// masked keeps the low 33 bits of each timestamp, as MPEG-TS carries them.
func masked(ps []pk) []pk {
	for i := range ps {
		ps[i].raw = ts90k.fromNanos(ps[i].ts) & (1<<33 - 1)
		if ps[i].raw == 0 {
			ps[i].raw = 1 << 33 // keep 0 meaning "use ts"; the same instant modulo the wrap
		}
	}
	return ps
}

func TestTimelineKeepsAudioThatStartsLate(t *testing.T) {
	tl := newTimeline(3*time.Second, false)
	tl.startsAt(ts90k.fromNanos(time.Second), ts90k)
	audio, _ := tl.place(pk{stream: 1, ts: 2500 * time.Millisecond}.stamp())
	video, _ := tl.place(pk{stream: 0, ts: time.Second}.stamp())
	if audio.at != 1500*time.Millisecond || video.at != 0 {
		t.Fatalf("audio at %v, video at %v; want 1.5s and 0", audio.at, video.at)
	}
}

// TestTimelineOneStreamJumps: an audio encoder restarts while the video
// carries on. The audio is re-anchored alone; the video keeps its mapping
// and shows no jump (no ping-pong between the streams).
func TestTimelineOneStreamJumps(t *testing.T) {
	s := time.Second
	tl := newTimeline(3*s, false)
	var packets []pk
	for _, p := range av(0, 20*s, 0, false) {
		if p.stream == 1 && p.ts >= 10*s {
			p.ts -= 9 * s // the audio clock went back 9 s at 10 s
		}
		packets = append(packets, p)
	}
	got, jumps, _ := runTimeline(t, tl, packets)
	if jumps[JumpBackward] != 1 || len(jumps) != 1 {
		t.Fatalf("jumps %v, want one backward", jumps)
	}
	for i, p := range packets {
		if p.stream == 0 {
			if d := got[i].at - p.ts; d != 0 {
				t.Fatalf("video at ts %v moved to %v", p.ts, got[i].at)
			}
		}
	}
}

// TestTimelineDrift: a live input whose clock runs 1 % slow against the
// monotonic clock, with delivery jitter and the probe's initial burst. Once
// measured, positions follow the arrival clock, and a clock without drift
// is left alone.
func TestTimelineDrift(t *testing.T) {
	for _, tc := range []struct {
		name string
		rate float64 // arrival seconds per media second
	}{{"1% slow", 1 / 0.99}, {"1% fast", 1 / 1.01}, {"no drift", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			tl := newTimeline(3*time.Second, true)
			var lastErr time.Duration
			for media := time.Duration(0); media < 60*time.Second; media += 20 * time.Millisecond {
				arrival := time.Duration(float64(media) * tc.rate)
				arrival += time.Duration(rng.ExpFloat64() * float64(5*time.Millisecond)) // queueing only ever delays
				if media > 0 && media < time.Second {
					arrival = time.Second // the probe's burst; the first packet's arrival is known from the IO
				}
				p, _ := tl.place(stamp{stream: 1, dts: ts90k.fromNanos(media), pts: ts90k.fromNanos(media), dur: 1800, tb: ts90k, wrapBits: 33, arrival: arrival})
				lastErr = p.at - time.Duration(float64(media)*tc.rate)
			}
			wantPPM := (1/tc.rate - 1) * 1e6
			if got := tl.driftPPM(); math.Abs(got-wantPPM) > 300 {
				t.Errorf("drift %.0f ppm, want %.0f ± 300", got, wantPPM)
			}
			// The first seconds ran uncorrected; after that the positions
			// keep pace with the arrivals.
			if lastErr < -250*time.Millisecond || lastErr > 250*time.Millisecond {
				t.Errorf("after a minute the last packet is %v off its arrival", lastErr)
			}
		})
	}
}

// TestTimelineBurstyArrivalsAreNotDrift: segments of 4 s arriving at once
// (HTTP, HLS) must not be mistaken for a clock running 2 % off.
func TestTimelineBurstyArrivalsAreNotDrift(t *testing.T) {
	tl := newTimeline(3*time.Second, true)
	for media := time.Duration(0); media < 5*time.Minute; media += 20 * time.Millisecond {
		arrival := (media/(4*time.Second) + 1) * 4 * time.Second
		tl.place(stamp{stream: 1, dts: ts90k.fromNanos(media), pts: ts90k.fromNanos(media), dur: 1800, tb: ts90k, wrapBits: 33, arrival: arrival})
	}
	if got := tl.driftPPM(); math.Abs(got) > 1000 {
		t.Errorf("bursty arrivals measured as %.0f ppm of drift", got)
	}
}

// FuzzTimeline: whatever the timestamps and arrivals, no stream's position
// goes back more than the tolerance, the input's end never goes back, and a
// gap is never filled beyond one window.
func FuzzTimeline(f *testing.F) {
	f.Add([]byte{0, 10, 0, 200, 1, 3, 0, 5}, true)
	f.Add([]byte{1, 255, 255, 0, 0, 0, 1, 1, 2, 2}, false)
	f.Fuzz(func(t *testing.T, data []byte, live bool) {
		tl := newTimeline(3*time.Second, live)
		last := map[int]time.Duration{}
		var end, arrival time.Duration
		var ts int64
		for i := 0; i+2 < len(data); i += 3 {
			stream := int(data[i] & 1)
			step := int64(int8(data[i+1])) * 90000 / 8 // ±16 s
			if data[i]&2 != 0 {
				step *= 3600 // hour-scale jumps
			}
			if data[i]&4 != 0 {
				tl.reopen()
			}
			ts += step
			arrival += time.Duration(data[i+2]) * 20 * time.Millisecond
			p, ok := tl.place(stamp{stream: stream, dts: ts, pts: ts, dur: 3600, tb: ts90k, wrapBits: 33, arrival: arrival})
			if !ok {
				t.Fatal("not placed")
			}
			if l, seen := last[stream]; seen && p.at < l-backwardTolerance {
				t.Fatalf("stream %d went back from %v to %v", stream, l, p.at)
			}
			if tl.reached() < end {
				t.Fatalf("end went back from %v to %v", end, tl.reached())
			}
			if p.gapTo > p.gapFrom && p.gapTo-p.gapFrom <= 3*time.Second {
				t.Fatalf("a gap of %v reported: gaps up to a window are filled", p.gapTo-p.gapFrom)
			}
			if live && p.at > arrival+tl.window+time.Hour && p.jump == "" {
				// Positions may lead arrivals only within the allowance.
				t.Fatalf("live position %v runs far ahead of its arrival %v", p.at, arrival)
			}
			last[stream], end = p.at, tl.reached()
		}
	})
}
