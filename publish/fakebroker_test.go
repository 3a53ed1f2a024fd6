package publish

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"unsafe"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// fakeBroker is an MQTT 3.1.1 server on 127.0.0.1 that accepts every
// client (reporting a present session), answers SUBSCRIBE and PINGREQ, and
// never acknowledges a PUBLISH: the broker of the finding, whose
// silence made paho's store grow without bound.
type fakeBroker struct {
	ln net.Listener
	wg sync.WaitGroup

	mu       sync.Mutex
	conns    map[net.Conn]bool
	connects int
	// seqs lists, per connection, the detection seqs received on it.
	seqs [][]uint64
}

func startFakeBroker(t *testing.T) *fakeBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBroker{ln: ln, conns: make(map[net.Conn]bool)}
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(b.close)
	return b
}

func (b *fakeBroker) URL() string { return "tcp://" + b.ln.Addr().String() }

func (b *fakeBroker) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		b.conns[c] = true
		b.mu.Unlock()
		b.wg.Add(1)
		go b.serve(c)
	}
}

func (b *fakeBroker) serve(c net.Conn) {
	defer b.wg.Done()
	defer func() {
		b.mu.Lock()
		delete(b.conns, c)
		b.mu.Unlock()
		c.Close()
	}()
	conn := -1
	for {
		pkt, err := packets.ReadPacket(c)
		if err != nil {
			return
		}
		var reply packets.ControlPacket
		switch m := pkt.(type) {
		case *packets.ConnectPacket:
			ack := packets.NewControlPacket(packets.Connack).(*packets.ConnackPacket)
			ack.SessionPresent = true
			reply = ack
			b.mu.Lock()
			b.connects++
			b.seqs = append(b.seqs, nil)
			conn = len(b.seqs) - 1
			b.mu.Unlock()
		case *packets.SubscribePacket:
			ack := packets.NewControlPacket(packets.Suback).(*packets.SubackPacket)
			ack.MessageID = m.MessageID
			ack.ReturnCodes = make([]byte, len(m.Topics))
			reply = ack
		case *packets.PingreqPacket:
			reply = packets.NewControlPacket(packets.Pingresp)
		case *packets.PublishPacket:
			var d struct {
				Seq *uint64 `json:"seq"`
			}
			if !m.Retain && json.Unmarshal(m.Payload, &d) == nil && d.Seq != nil && conn >= 0 {
				b.mu.Lock()
				b.seqs[conn] = append(b.seqs[conn], *d.Seq)
				b.mu.Unlock()
			}
		case *packets.DisconnectPacket:
			return
		}
		if reply != nil {
			if err := reply.Write(c); err != nil {
				return
			}
		}
	}
}

// drop closes every client connection, as a broker restart would.
func (b *fakeBroker) drop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.conns {
		c.Close()
	}
}

func (b *fakeBroker) connections() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.connects
}

// received returns the detection seqs received on connection i (0 is the
// first).
func (b *fakeBroker) received(i int) []uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i >= len(b.seqs) {
		return nil
	}
	return append([]uint64(nil), b.seqs[i]...)
}

func (b *fakeBroker) close() {
	b.ln.Close()
	b.drop()
	b.wg.Wait()
}

// storedDetections counts the detections in a paho file store directory:
// outbound publishes that are not retained.
func storedDetections(t *testing.T, dir string) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "o.*.msg"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if pub := readStored(t, f); pub != nil && !pub.Retain {
			n++
		}
	}
	return n
}

// readStored reads a publish from a store file; nil if it is none or was
// deleted meanwhile.
func readStored(t *testing.T, file string) *packets.PublishPacket {
	t.Helper()
	r, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pkt, err := packets.ReadPacket(r)
	if err != nil {
		return nil // being written
	}
	pub, _ := pkt.(*packets.PublishPacket)
	return pub
}

// pahoClaimedIDs is the number of message ids paho's client holds (its
// messageIds map). paho exports no way to read it, so the test reads the
// unexported field, under the map's own lock.
func pahoClaimedIDs(t *testing.T, c mqtt.Client) int {
	t.Helper()
	v := reflect.ValueOf(c).Elem().FieldByName("messageIds")
	if !v.IsValid() {
		t.Fatal("paho's client has no messageIds field any more; update pahoClaimedIDs")
	}
	mu := (*sync.RWMutex)(unsafe.Pointer(v.FieldByName("mu").UnsafeAddr()))
	mu.RLock()
	defer mu.RUnlock()
	return v.FieldByName("index").Len()
}
