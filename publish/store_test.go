package publish

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/waittest"
)

// fillDisk makes every file paho's file store (and the write probe) will
// create in dir a symlink to /dev/full, whose writes fail with ENOSPC:
// paho's own FileStore then meets a real full-disk error.
func fillDisk(t *testing.T, dir string, keys int) {
	t.Helper()
	for id := 1; id <= keys; id++ {
		if err := os.Symlink("/dev/full", filepath.Join(dir, fmt.Sprintf("o.%d.tmp", id))); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/dev/full", filepath.Join(dir, probeFile)); err != nil {
		t.Fatal(err)
	}
}

// TestFullDiskDegradesToCountedDrops: with paho's file store failing with
// ENOSPC, the publisher does not crash; while the broker is unreachable
// it drops detections it could only have held in memory and counts them,
// and once connected it publishes again.
func TestFullDiskDegradesToCountedDrops(t *testing.T) {
	noLeaks(t)
	b, sub := sessionBroker(t, "disk-sub", mosquittotest.Config{})
	b.Stop()
	o := testOptions(t, b.URL())
	fillDisk(t, o.StoreDir, 1000)
	h := newHarness(t, o)
	h.run(t)

	h.p.Detection("front", 1, detectionPayload(t, "front", 1))
	waittest.For(t, "the first detection's failed write", 10*time.Second, func() bool { return h.p.store.spilled() == 1 })
	for seq := uint64(2); seq <= 6; seq++ {
		h.p.Detection("front", seq, detectionPayload(t, "front", seq))
	}
	waittest.For(t, "five store_error drops", 10*time.Second, func() bool {
		return h.obs.get(func(r *recorder) int { return r.dropped[DropStoreError] }) == 5
	})
	if n := len(h.logs.lines("mqtt file store failed")); n != 1 {
		t.Errorf("%d 'store failed' lines, want 1", n)
	}
	if n := len(h.logs.lines("dropping detections")); n != 1 {
		t.Errorf("%d 'dropping detections' lines for one burst, want 1", n)
	}
	if l := h.logs.lines("mqtt file store failed"); len(l) == 1 && !strings.Contains(fmt.Sprint(l[0]["error"]), "no space left on device") {
		t.Errorf("store failure logged as %v, want ENOSPC", l[0])
	}

	b.Start()
	waittest.For(t, "the connection", 30*time.Second, h.p.Connected)
	for seq := uint64(7); seq <= 9; seq++ {
		h.p.Detection("front", seq, detectionPayload(t, "front", seq))
	}
	sch := detectionSchema(t)
	// Seq 1 was spilled to memory and goes out after the reconnect; 7..9
	// are published live although the store still cannot write.
	sub.WaitFor(t, "seqs 1, 7, 8, 9", 30*time.Second, func(m []mosquittotest.Message) bool {
		set, _ := distinct(detectionSeqs(t, sch, m, "front"))
		return set[1] && set[7] && set[8] && set[9]
	})
	set, _ := distinct(detectionSeqs(t, sch, sub.Messages(), "front"))
	if len(set) != 4 {
		t.Errorf("received seqs %v, want exactly 1, 7, 8, 9", set)
	}
	waittest.For(t, "the spill to empty after PUBACKs", 20*time.Second, func() bool { return h.p.store.spilled() == 0 })
}

// panicStore fails like paho's FileStore does: by panicking.
type panicStore struct{ err error }

func (s panicStore) Open()                             { panic(s.err) }
func (s panicStore) Put(string, packets.ControlPacket) { panic(s.err) }
func (s panicStore) Get(string) packets.ControlPacket  { panic(s.err) }
func (s panicStore) All() []string                     { panic(s.err) }
func (s panicStore) Del(string)                        { panic(s.err) }
func (s panicStore) Close()                            { panic(s.err) }
func (s panicStore) Reset()                            { panic(s.err) }

func publishPacket(topic string, retain bool, payload string) *packets.PublishPacket {
	p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	p.TopicName, p.Retain, p.Qos, p.Payload = topic, retain, 1, []byte(payload)
	return p
}

// TestSafeStoreRecoversEveryPanic: no Store method lets a panic escape,
// and a packet whose Put failed stays readable from memory until Del.
func TestSafeStoreRecoversEveryPanic(t *testing.T) {
	enospc := &fs.PathError{Op: "write", Path: "o.1.tmp", Err: syscall.ENOSPC}
	var failures []string
	dir := t.TempDir()
	fillDisk(t, dir, 0)
	s := newSafeStore(panicStore{err: enospc}, dir, func(string) bool { return false },
		func(op string, err error) {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("%s failure %v does not wrap ENOSPC", op, err)
			}
			failures = append(failures, op)
		})
	s.Open()
	pkt := publishPacket("garssl/robot-7/front/detections", false, "x")
	pkt.MessageID = 1
	s.Put("o.1", pkt)
	// paho sets the header of the packet it holds whenever it sends it,
	// also while a resume reads the store: the spill must not share it.
	pkt.Dup, pkt.MessageID = true, 9
	if got, ok := s.Get("o.1").(*packets.PublishPacket); !ok || got == pkt || got.TopicName != pkt.TopicName ||
		string(got.Payload) != "x" || got.MessageID != 1 || got.Dup || got.Qos != 1 {
		t.Errorf("Get after a failed Put = %v, want a copy of the packet as it was stored", got)
	}
	if keys := s.All(); len(keys) != 1 || keys[0] != "o.1" {
		t.Errorf("All = %v", keys)
	}
	if s.healthy() {
		t.Error("healthy after a failed Put")
	}
	// Space is freed: the next probe notices.
	if err := os.Remove(filepath.Join(dir, probeFile)); err != nil {
		t.Fatal(err)
	}
	waittest.For(t, "a probe to find the disk writable", 10*time.Second, s.healthy)
	s.Del("o.1")
	if s.spilled() != 0 {
		t.Error("Del left the packet in memory")
	}
	s.Get("o.2")
	s.Del("o.2")
	s.Reset()
	s.Close()
	if len(failures) < 7 {
		t.Errorf("failures reported: %v", failures)
	}
}

// TestSafeStoreKeepsRetainedValuesCurrent: a stored status or state
// message is resent with the latest payload for its topic, and those left
// by an earlier run are deleted when the store opens.
func TestSafeStoreKeepsRetainedValuesCurrent(t *testing.T) {
	dir := t.TempDir()
	tp := newTopics(testPrefix, testNode)
	fail := func(op string, err error) { t.Errorf("%s: %v", op, err) }

	earlier := newSafeStore(mqtt.NewFileStore(dir), dir, tp.isLatest, fail)
	earlier.Open()
	earlier.Put("o.1", publishPacket(tp.status(), true, `{"state":"stopped"}`))
	earlier.Put("o.2", publishPacket(tp.state("front"), true, `{"state":"running"}`))
	earlier.Put("o.3", publishPacket(tp.detections("front"), false, `{"seq":1}`))
	earlier.Close()

	s := newSafeStore(mqtt.NewFileStore(dir), dir, tp.isLatest, fail)
	s.Open()
	if keys := s.All(); len(keys) != 1 || keys[0] != "o.3" {
		t.Fatalf("after reopening, store holds %v; want only the detection", keys)
	}
	s.Put("o.4", publishPacket(tp.state("front"), true, `{"state":"running"}`))
	s.setLatest(tp.state("front"), []byte(`{"state":"paused"}`))
	got, ok := s.Get("o.4").(*packets.PublishPacket)
	if !ok || string(got.Payload) != `{"state":"paused"}` || got.TopicName != tp.state("front") {
		t.Errorf("resent state = %+v", got)
	}
	if d, _ := s.Get("o.3").(*packets.PublishPacket); d == nil || string(d.Payload) != `{"seq":1}` {
		t.Errorf("detection changed: %+v", d)
	}
}
