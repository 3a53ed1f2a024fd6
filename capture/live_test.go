package capture_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garssl/garssld/capture"
	"github.com/garssl/garssld/internal/testmedia"
)

// freeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// sendUDP starts `ffmpeg -re` pushing seconds of MPEG-TS to port and returns
// a function that waits for it to finish.
func sendUDP(t *testing.T, port int, seconds float64) func() {
	t.Helper()
	args := append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-re"},
		testmedia.Args(testmedia.TestPattern(320, 240, 25, seconds), testmedia.Sine(0.5, 440, 48000, 2, seconds),
			[]string{"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25",
				"-c:a", "aac", "-shortest", "-f", "mpegts", fmt.Sprintf("udp://127.0.0.1:%d?pkt_size=1316", port)})...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds*float64(time.Second))+time.Minute)
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return func() { <-done }
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestLiveUDPSenderStopsAndRestarts(t *testing.T) {
	port := freeUDPPort(t)
	c := newCollector(t, capture.Config{
		Name: "udp", Input: fmt.Sprintf("udp://127.0.0.1:%d", port),
		StallTimeout: time.Second, BackoffMin: 100 * time.Millisecond, BackoffMax: 400 * time.Millisecond,
	}, 2*time.Second, 2*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- c.source.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-runErr })

	sendUDP(t, port, 6.5)()
	waitFor(t, "windows from the first sender", 10*time.Second, func() bool { return len(c.snapshot()) >= 2 })
	firstSession := len(c.snapshot())
	waitFor(t, "the stall to be noticed", 10*time.Second, func() bool { return c.source.Stats().Stalls >= 1 })
	if st := c.source.Status(); st.State != capture.StateReconnecting && st.State != capture.StateConnecting {
		t.Errorf("state after the sender stopped = %s (%s), want reconnecting or connecting", st.State, st.LastError)
	}

	sendUDP(t, port, 6.5)()
	waitFor(t, "windows from the second sender", 15*time.Second, func() bool { return len(c.snapshot()) >= firstSession+2 })
	if c.source.Stats().Reconnects == 0 {
		t.Error("no reconnect counted")
	}
	ws := c.snapshot()
	for i, w := range ws {
		checkWindow(t, w, 2*time.Second, time.Second/25, 320, 240)
		if i > 0 && w.Seq <= ws[i-1].Seq {
			t.Errorf("seq went from %d to %d", ws[i-1].Seq, w.Seq)
		}
		if i > 0 && w.PTSStart < ws[i-1].PTSEnd && w.Seq != ws[i-1].Seq+1 {
			t.Errorf("window %d starts at %v before window %d ends at %v", w.Seq, w.PTSStart, ws[i-1].Seq, ws[i-1].PTSEnd)
		}
		if w.WallStart.IsZero() {
			t.Errorf("window %d has no wall-clock time", w.Seq)
		}
	}
	// After the outage, the timeline follows the wall clock: the second
	// session's windows start later than the first session's media ended.
	if gap := ws[firstSession].PTSStart - ws[firstSession-1].PTSEnd; gap < 500*time.Millisecond {
		t.Errorf("the outage left a timeline gap of only %v", gap)
	}
	c.mu.Lock()
	states := fmt.Sprint(c.states)
	c.mu.Unlock()
	for _, want := range []string{"running", "reconnecting"} {
		if !strings.Contains(states, want) {
			t.Errorf("state changes %s never reached %s", states, want)
		}
	}
}

// TestReconnectsDoNotLeak serves a short MPEG-TS over TCP and closes the
// connection, 60 times; the Source reconnects after each EOF. Resident
// memory, which counts FFmpeg's C allocations too, must stay flat between
// cycle 10 and cycle 60.
func TestReconnectsDoNotLeak(t *testing.T) {
	dir := t.TempDir()
	ts := testmedia.File(t, dir, "clip.ts", testmedia.Args(testmedia.TestPattern(640, 360, 25, 1),
		testmedia.Sine(0.5, 440, 48000, 2, 1),
		[]string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", "-f", "mpegts"})...)
	clip, err := os.ReadFile(ts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var served atomic.Int64
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = conn.Write(clip)
			_ = conn.Close()
			served.Add(1)
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })

	c := newCollector(t, capture.Config{
		Name: "tcp", Input: "tcp://" + ln.Addr().String(),
		StallTimeout: 2 * time.Second, BackoffMin: time.Millisecond, BackoffMax: 2 * time.Millisecond,
	}, time.Second, time.Second)
	c.discard = true // the windows themselves would grow the heap
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- c.source.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-runErr })

	waitFor(t, "10 reconnects", time.Minute, func() bool { return c.source.Stats().Reconnects >= 10 })
	before := rss(t)
	waitFor(t, "60 reconnects", 3*time.Minute, func() bool { return c.source.Stats().Reconnects >= 60 })
	after := rss(t)
	c.mu.Lock()
	windows := c.count
	c.mu.Unlock()
	t.Logf("RSS after 10 reconnects %d KiB, after 60 %d KiB; %d connections served, %d windows", before, after, served.Load(), windows)
	if grow := after - before; grow > 12*1024 {
		t.Errorf("RSS grew %d KiB over 50 reconnects: FFmpeg memory leaks across reconnects", grow)
	}
	if windows < 50 {
		t.Errorf("%d windows from 60 served one-second clips", windows)
	}
}

// rss returns the resident set size in KiB after a GC, so Go's own garbage
// does not blur what FFmpeg holds.
func rss(t *testing.T) int64 {
	t.Helper()
	runtime.GC()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			v, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
