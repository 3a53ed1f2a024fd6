package daemon

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/waittest"
	"github.com/garssl/garssld/schedule"
)

// schedulerDropReasons are the reasons the scheduler counts a cut window
// as dropped; windowing's own (no_frame, gap) concern windows never cut.
var schedulerDropReasons = []string{schedule.DropQueueFull, schedule.DropStale, schedule.DropTooLate, schedule.DropSuperseded, schedule.DropPaused, schedule.DropRemoved, schedule.DropShutdown}

func schedulerDrops(m metricSet, stream string) (total float64, byReason map[string]float64) {
	byReason = m.byLabel("garssl_windows_dropped_total", "reason", map[string]string{"stream": stream})
	for _, r := range schedulerDropReasons {
		total += byReason[r]
	}
	return total, byReason
}

// seenStatus reports whether the node's status was published as state.
// The test subscriber handles messages concurrently (as the publisher's
// subscribers may), so arrival order says nothing: tests look for a state
// among those received, and read the retained one for the current state.
func seenStatus(t testing.TB, msgs []mosquittotest.Message, state string) bool {
	t.Helper()
	for _, m := range msgs {
		if m.Topic == "garssl/"+testNode+"/status" {
			var s struct{ State string }
			if err := json.Unmarshal(m.Payload, &s); err != nil {
				t.Fatalf("status %s: %v", m.Payload, err)
			}
			if s.State == state {
				return true
			}
		}
	}
	return false
}

// seenState reports whether stream's state was published as state among
// the messages from index from of its state messages on.
func seenState(msgs []mosquittotest.Message, stream, state string, from int) bool {
	s := states(msgs, stream)
	return from <= len(s) && slices.Contains(s[from:], state)
}

// retainedState is stream's state as the broker holds it now.
func retainedState(t testing.TB, b *mosquittotest.Broker, stream string) string {
	t.Helper()
	sub := mosquittotest.Subscribe(t, b.URL(), mosquittotest.SubscriberConfig{
		ClientID: fmt.Sprintf("retained-%d", time.Now().UnixNano()), QoS: 1, Topics: []string{topic(stream, "state")}})
	defer sub.Close()
	sub.WaitFor(t, "the retained state of "+stream, 30*time.Second, func(m []mosquittotest.Message) bool { return len(m) > 0 })
	return states(sub.Messages(), stream)[0]
}

// modelBox converts a frame-pixel box of the clip to the model's 224×224
// picture.
func modelBox(b [4]float64) [4]float64 {
	sx, sy := 224.0/clipW, 224.0/clipH
	return [4]float64{b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy}
}

// Media → daemon → broker → subscriber. A file read at its own rate, a
// model slower than the windows arrive: every window cut is published or
// counted as dropped with a reason; every message follows the schema;
// boxes start off the red square (omnisim's locate errs on purpose) and
// refinement moves them towards it.
func TestEndToEndEveryWindowAccounted(t *testing.T) {
	dir := t.TempDir()
	clip := makeClip(t, dir, "clip.mp4", 8)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	sub := subscribe(t, b, "e2e")
	s := startSim(t, 1)
	r := startDaemon(t, configText(setup{
		broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store"), maxQueue: 1, staleAfter: "4s",
	}, streamSpec{name: "front", input: clip}), nil, testHooks{})

	waittest.For(t, "/readyz ready", 30*time.Second, func() bool { return r.ready(t).Ready })
	waittest.For(t, "the stream to stop at the end of the file", 60*time.Second, func() bool {
		return seenState(sub.Messages(), "front", "stopped", 0)
	})
	var cut, published, dropped float64
	var reasons map[string]float64
	waittest.For(t, "every cut window published or dropped", 60*time.Second, func() bool {
		m := r.scrape(t)
		cut = m.sum("garssl_windows_cut_total", map[string]string{"stream": "front"})
		published = m.sum("garssl_windows_total", map[string]string{"stream": "front"})
		dropped, reasons = schedulerDrops(m, "front")
		return cut > 0 && cut == published+dropped && len(distinctSeqs(detections(t, sub.Messages(), "front"), r.RunID())) == int(published)
	})
	if cut != 8 {
		t.Errorf("%v windows cut from 8 s of media in 1 s windows, want 8: the last closes when the file ends", cut)
	}
	t.Logf("cut %v, published %v, dropped %v (%v)", cut, published, dropped, reasons)

	got := distinctSeqs(detections(t, sub.Messages(), "front"), r.RunID())
	truth := modelBox(redBox)
	var ok, refined int
	var initialIoU, finalIoU float64
	for seq, d := range got {
		if seq < 1 || seq > uint64(cut) {
			t.Errorf("seq %d outside 1..%v", seq, cut)
		}
		if d.Node != testNode || d.Stream != "front" || d.Frame.Width != clipW || d.Frame.Height != clipH {
			t.Errorf("seq %d: node %q stream %q frame %dx%d", seq, d.Node, d.Stream, d.Frame.Width, d.Frame.Height)
		}
		if d.LatencyMS.AgeAtPublish > 4000 {
			t.Errorf("seq %d published %d ms after its window ended, past stale_after", seq, d.LatencyMS.AgeAtPublish)
		}
		if d.Status != gar.StatusOK {
			continue
		}
		ok++
		if d.Audio.Label != audioClass || len(d.Sources) != 1 {
			t.Errorf("seq %d: label %q, %d sources", seq, d.Audio.Label, len(d.Sources))
			continue
		}
		src := d.Sources[0]
		// Frame pixels are the model's scaled back.
		fm, ff := src.BBoxModel.Float(), src.BBox.Float()
		for i := range 4 {
			scale := float64(clipW) / 224
			if i%2 == 1 {
				scale = float64(clipH) / 224
			}
			if diff := ff[i] - fm[i]*scale; diff > 2 || diff < -2 {
				t.Errorf("seq %d: bbox %v is not bbox_model %v in frame pixels", seq, src.BBox, src.BBoxModel)
				break
			}
		}
		initialIoU += iou(src.InitialBBoxModel.Float(), truth)
		finalIoU += iou(fm, truth)
		if src.Refined {
			refined++
		}
	}
	if ok == 0 || refined == 0 {
		t.Fatalf("%d windows ok, %d refined; want both", ok, refined)
	}
	initialIoU /= float64(ok)
	finalIoU /= float64(ok)
	t.Logf("%d ok, %d refined; mean IoU with the red square: initial %.2f, final %.2f", ok, refined, initialIoU, finalIoU)
	m := r.scrape(t)
	if n := m.sum("garssl_gar_gate_decisions_total", nil); n != float64(ok) {
		t.Errorf("%v gate decisions counted for %d sources", n, ok)
	}
	if n := m.sum("garssl_gar_gate_decisions_total", map[string]string{"decision": "refined"}); n != float64(refined) {
		t.Errorf("%v refinements counted, %d published", n, refined)
	}
	for _, stage := range []string{"locate", "audio", "analysis", "refine"} {
		if h := histogramCount(m, "garssl_gar_stage_duration_seconds", "stage", stage); h == 0 {
			t.Errorf("no %s latency recorded", stage)
		}
	}
	if initialIoU > 0.6 {
		t.Errorf("locate's boxes already fit the square (IoU %.2f): the test starts at the answer", initialIoU)
	}
	if finalIoU < initialIoU+0.05 {
		t.Errorf("refinement did not move boxes towards the square: IoU %.2f → %.2f", initialIoU, finalIoU)
	}

	if err := r.stop(t); err != nil {
		t.Fatalf("Run after SIGTERM = %v", err)
	}
	sub.WaitFor(t, "status stopped", 30*time.Second, func(m []mosquittotest.Message) bool { return seenStatus(t, m, "stopped") })
	if n := r.systemd.count("STOPPING=1"); n != 1 {
		t.Errorf("STOPPING=1 sent %d times", n)
	}
}
