package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/waittest"
	"github.com/garssl/garssld/publish"
)

// cutWindows is how many windows the stream's cutter handed on so far.
func (r *running) cutWindows(t testing.TB, stream string) float64 {
	t.Helper()
	return r.scrape(t).sum("garssl_windows_cut_total", map[string]string{"stream": stream})
}

// contiguous reports whether seqs are exactly 1..n, and n.
func contiguous(seqs map[uint64]struct{}) (bool, uint64) {
	n := uint64(len(seqs))
	for s := range seqs {
		if s < 1 || s > n {
			return false, n
		}
	}
	return true, n
}

func seqSet[V any](m map[uint64]V) map[uint64]struct{} {
	out := make(map[uint64]struct{}, len(m))
	for k := range m {
		out[k] = struct{}{}
	}
	return out
}

func sortedSeqs[V any](m map[uint64]V) []uint64 {
	out := make([]uint64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Nothing lost: the broker (persistence on) is down for ten windows'
// worth of media mid-run. A subscriber with a persistent session receives,
// after the reconnect, every detection made during the outage, and the
// seqs of the run are one run without gaps.
func TestNothingLostAcrossBrokerOutage(t *testing.T) {
	dir := t.TempDir()
	clip := makeClip(t, dir, "clip.mp4", 4)
	b := mosquittotest.Start(t, mosquittotest.Config{Persistence: true})
	sub := subscribe(t, b, "outage")
	s := startSim(t, 0)
	r := startDaemon(t, configText(setup{broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store"), maxQueue: 4},
		streamSpec{name: "front", input: clip, extra: []string{"loop = true"}}), nil, testHooks{})
	received := func() map[uint64]struct{} {
		return seqSet(distinctSeqs(detections(t, sub.Messages(), "front"), r.RunID()))
	}
	waittest.For(t, "three detections", 30*time.Second, func() bool { return len(received()) >= 3 })

	b.Stop()
	downAt := time.Now()
	waittest.For(t, "/readyz to see the broker gone", 30*time.Second, func() bool { return !r.ready(t).MQTT.Connected })
	before := r.cutWindows(t, "front")
	// Down for ten windows of media: 10 s, as long as the machine's load
	// makes them.
	waittest.For(t, "ten windows cut during the outage", 60*time.Second, func() bool { return r.cutWindows(t, "front") >= before+10 })
	b.Start()
	upAt := time.Now()
	cut := r.cutWindows(t, "front")
	waittest.For(t, "every window cut before the broker came back", 60*time.Second, func() bool {
		got := received()
		for seq := uint64(1); seq <= uint64(cut); seq++ {
			if _, ok := got[seq]; !ok {
				return false
			}
		}
		return true
	})
	if drops, byReason := schedulerDrops(r.scrape(t), "front"); drops != 0 {
		t.Errorf("windows dropped: %v", byReason)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	ok, n := contiguous(received())
	if !ok {
		t.Errorf("seqs received are not one run from 1: %v", sortedSeqs(received()))
	}
	during := 0
	for _, d := range distinctSeqs(detections(t, sub.Messages(), "front"), r.RunID()) {
		if d.Window.End.After(downAt) && d.Window.End.Before(upAt) {
			during++
		}
	}
	if during < 8 {
		t.Errorf("%d detections of windows that ended during the %s outage arrived, want at least 8", during, upAt.Sub(downAt).Round(time.Second))
	}
	t.Logf("%d detections, seqs 1..%d, %d from the outage", len(received()), n, during)
}

// A full disk: the file store's writes fail with ENOSPC (its files are
// links to /dev/full) while the broker is down. The daemon goes on
// capturing and analysing, counts the detections it cannot keep, and
// publishes again once the broker is back.
func TestFullDiskKeepsRunningAndCountsDrops(t *testing.T) {
	dir := t.TempDir()
	clip := makeClip(t, dir, "clip.mp4", 4)
	b := mosquittotest.Start(t, mosquittotest.Config{Persistence: true})
	sub := subscribe(t, b, "disk")
	b.Stop()
	store := filepath.Join(dir, "store")
	if err := os.MkdirAll(store, 0o700); err != nil {
		t.Fatal(err)
	}
	// paho's file store writes o.<message id>.tmp, and the publisher's
	// probe write-probe.tmp; /dev/full fails every write with ENOSPC.
	for _, name := range append([]string{"write-probe.tmp"}, msgFiles(1, 2000)...) {
		if err := os.Symlink("/dev/full", filepath.Join(store, name)); err != nil {
			t.Fatal(err)
		}
	}
	s := startSim(t, 0)
	r := startDaemon(t, configText(setup{broker: b.URL(), endpoint: s.url, storeDir: store, maxQueue: 4},
		streamSpec{name: "front", input: clip, extra: []string{"loop = true"}}), nil, testHooks{})

	waittest.For(t, "detections dropped for the store", 60*time.Second, func() bool {
		return r.scrape(t).sum("garssl_mqtt_messages_dropped_total", map[string]string{"reason": publish.DropStoreError}) >= 3
	})
	if code, body := r.get(t, "/healthz"); code != 200 {
		t.Errorf("/healthz = %d %s with a full disk", code, body)
	}
	if n := r.scrape(t).sum("garssl_windows_total", map[string]string{"stream": "front"}); n < 3 {
		t.Errorf("%v windows analysed with a full disk; the pipeline stopped", n)
	}
	if len(r.logs.lines("mqtt file store failed")) == 0 || !strings.Contains(r.logs.String(), "no space left on device") {
		t.Errorf("the store failure is not logged with its reason")
	}
	b.Start()
	waittest.For(t, "/readyz to see the broker", 30*time.Second, func() bool { return r.ready(t).MQTT.Connected })
	since := r.cutWindows(t, "front")
	sub.WaitFor(t, "detections after the broker came back", 60*time.Second, func(msgs []mosquittotest.Message) bool {
		for seq := range distinctSeqs(detections(t, msgs, "front"), r.RunID()) {
			if float64(seq) > since {
				return true
			}
		}
		return false
	})
}

func msgFiles(from, to int) []string {
	var out []string
	for id := from; id <= to; id++ {
		out = append(out, fmt.Sprintf("o.%d.tmp", id))
	}
	return out
}
