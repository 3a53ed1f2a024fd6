package daemon

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/garssl/garssld/capture"
	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/testmedia"
	"github.com/garssl/garssld/internal/waittest"
	"github.com/garssl/garssld/publish"
)

// udpSender is a live camera: ffmpeg sending an MPEG-TS clip in a loop,
// at its own rate, to a UDP port.
type udpSender struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func sendUDP(t testing.TB, ts string, port int) *udpSender {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1",
		"-i", ts, "-c", "copy", "-f", "mpegts", fmt.Sprintf("udp://127.0.0.1:%d?pkt_size=1316", port))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &udpSender{cancel: cancel, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	t.Cleanup(s.stop)
	return s
}

func (s *udpSender) stop() { s.cancel(); <-s.done }

// One camera's live UDP sender stops for 15 s: that stream reconnects by
// itself and publishes again; the other stream goes on publishing at
// least 80 % of its windows meanwhile.
func TestCameraOutageLeavesTheOtherStreamAlone(t *testing.T) {
	dir := t.TempDir()
	clip := makeClip(t, dir, "clip.mp4", 4)
	ts := mpegTS(t, dir, "cam.ts", 4)
	port := testmedia.FreeUDPPort(t)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	sub := subscribe(t, b, "cam")
	s := startSim(t, 0)
	sender := sendUDP(t, ts, port)
	r := startDaemon(t, configText(setup{broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store"), maxQueue: 4},
		streamSpec{name: "cam", input: fmt.Sprintf("udp://127.0.0.1:%d", port), extra: []string{`stall_timeout = "2s"`}},
		streamSpec{name: "file", input: clip, extra: []string{"loop = true"}}), nil, testHooks{})
	seqs := func(stream string) map[uint64]struct{} {
		return seqSet(distinctSeqs(detections(t, sub.Messages(), stream), r.RunID()))
	}
	waittest.For(t, "detections from both streams", 60*time.Second, func() bool { return len(seqs("cam")) >= 2 && len(seqs("file")) >= 2 })

	sender.stop()
	camBefore := uint64(0)
	for s := range seqs("cam") {
		camBefore = max(camBefore, s)
	}
	waittest.For(t, "the camera stream to reconnect", 60*time.Second, func() bool {
		return seenState(sub.Messages(), "cam", string(capture.StateReconnecting), 0)
	})
	if code, _ := r.get(t, "/healthz"); code != 200 {
		t.Errorf("/healthz = %d while a camera reconnects", code)
	}
	fileFrom := uint64(r.cutWindows(t, "file")) + 1
	// 15 s of the other stream's media.
	waittest.For(t, "15 windows of the file stream", 90*time.Second, func() bool { return r.cutWindows(t, "file") >= float64(fileFrom)+14 })
	fileTo := uint64(r.cutWindows(t, "file"))
	sendUDP(t, ts, port)

	sub.WaitFor(t, "the camera's detections again", 90*time.Second, func(msgs []mosquittotest.Message) bool {
		for s := range seqSet(distinctSeqs(detections(t, msgs, "cam"), r.RunID())) {
			if s > camBefore {
				return true
			}
		}
		return false
	})
	if st := retainedState(t, b, "cam"); st != string(capture.StateRunning) {
		t.Errorf("camera state after the reconnect = %s", st)
	}
	waittest.For(t, "the file stream's outage windows to be published", 60*time.Second, func() bool {
		got := seqs("file")
		n := 0
		for s := fileFrom; s <= fileTo; s++ {
			if _, ok := got[s]; ok {
				n++
			}
		}
		return float64(n) >= 0.8*float64(fileTo-fileFrom+1)
	})
	if n := r.scrape(t).sum("garssl_capture_reconnects_total", map[string]string{"stream": "cam"}); n < 1 {
		t.Errorf("%v camera reconnects counted", n)
	}
}

// Pause and resume over MQTT: a retained set message present at start is
// ignored; {"enabled": false} stops the capture and publishes "paused";
// {"enabled": true} captures again, and seqs go on from where they were.
func TestPauseAndResumeOverMQTT(t *testing.T) {
	dir := t.TempDir()
	clip := makeClip(t, dir, "clip.mp4", 4)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	sub := subscribe(t, b, "pause")
	// A stale command, retained on the broker from some earlier session.
	b.Publish(t, topic("front", "set"), true, `{"enabled": false}`)
	s := startSim(t, 0)
	r := startDaemon(t, configText(setup{broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store"), maxQueue: 4},
		streamSpec{name: "front", input: clip, extra: []string{"loop = true"}}), nil, testHooks{})
	seqs := func() map[uint64]struct{} {
		return seqSet(distinctSeqs(detections(t, sub.Messages(), "front"), r.RunID()))
	}
	waittest.For(t, "the retained command to be seen and ignored", 30*time.Second, func() bool {
		return r.scrape(t).sum("garssl_mqtt_commands_total", map[string]string{"result": publish.CommandIgnoredRetained}) >= 1
	})
	waittest.For(t, "detections despite the retained pause", 30*time.Second, func() bool { return len(seqs()) >= 2 })

	b.Publish(t, topic("front", "set"), false, `{"enabled": false}`)
	waittest.For(t, "the paused state", 30*time.Second, func() bool { return seenState(sub.Messages(), "front", statePaused, 0) })
	run := r.runningStreams()[0]
	waittest.For(t, "the capture to stop", 30*time.Second, func() bool {
		run.sup.mu.Lock()
		defer run.sup.mu.Unlock()
		return run.sup.cur == nil
	})
	if rep := r.ready(t); rep.Ready || rep.Streams["front"] != statePaused {
		t.Errorf("/readyz with the only stream paused: %+v", rep)
	}
	var atPause uint64
	for s := range seqs() {
		atPause = max(atPause, s)
	}
	cutAtPause := r.cutWindows(t, "front")

	pausedAt := len(states(sub.Messages(), "front"))
	b.Publish(t, topic("front", "set"), false, `{"enabled": true}`)
	waittest.For(t, "running again", 30*time.Second, func() bool {
		return seenState(sub.Messages(), "front", string(capture.StateRunning), pausedAt)
	})
	waittest.For(t, "detections after the resume", 30*time.Second, func() bool {
		for s := range seqs() {
			if s > uint64(cutAtPause) {
				return true
			}
		}
		return false
	})
	if st := retainedState(t, b, "front"); st != string(capture.StateRunning) {
		t.Errorf("retained state after the resume: %s", st)
	}
	// (run_id, stream, seq) stays unique: the second session's seqs go on
	// after the first's instead of starting at 1 again.
	starts := map[uint64]time.Time{}
	for _, d := range detections(t, sub.Messages(), "front") {
		if st, seen := starts[d.Seq]; seen && !st.Equal(d.Window.Start) {
			t.Errorf("seq %d names two windows, starting %v and %v", d.Seq, st, d.Window.Start)
		}
		starts[d.Seq] = d.Window.Start
	}
	t.Logf("paused after seq %d (%v cut); %d detections", atPause, cutAtPause, len(starts))
	if n := r.scrape(t).sum("garssl_mqtt_commands_total", map[string]string{"result": publish.CommandReceived}); n != 2 {
		t.Errorf("%v commands applied, want 2", n)
	}
}
