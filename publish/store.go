package publish

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// safeStore wraps paho's Store so that a failing disk cannot crash the
// daemon. paho's FileStore panics on every I/O error (chkerr), from the
// caller's goroutine or from paho's own network goroutines; safeStore
// recovers those panics. A packet whose Put failed is kept in memory
// ("spilled") so that paho's bookkeeping stays whole: its message id is
// still resent after a reconnect and freed by the PUBACK, and only its
// durability across a restart is lost. The publisher asks healthy()
// before handing a detection to paho while disconnected, and drops it
// (DropStoreError) instead of letting the spill grow.
//
// safeStore also keeps retained status and state messages from going
// stale: a resent one carries the latest payload for its topic, and those
// left by an earlier run are deleted at Open, because Run publishes fresh
// ones on every connect and paho resends stored messages after them.
type safeStore struct {
	inner  mqtt.Store
	dir    string
	onFail func(op string, err error)

	mu        sync.Mutex
	spill     map[string]packets.ControlPacket
	failing   bool
	lastProbe time.Time
	// latest maps a retained topic whose newest value supersedes older
	// ones (status and stream states) to that value.
	latest    map[string][]byte
	isLatest  func(topic string) bool
	purgeDone bool

	// ledger is told which outbound messages enter and leave the store;
	// nil tells nobody.
	ledger storeLedger
}

// storeLedger accounts for the detections in the store (the Publisher's
// backlog). safeStore calls it without holding its own lock, after the
// inner store has done the operation (or, for listing, before paho sees
// the keys).
type storeLedger interface {
	// stored reports an outbound packet written under key at time at.
	stored(key string, p packets.ControlPacket, at time.Time, claimed bool)
	// deleted reports key deleted by paho: its acknowledgement.
	deleted(key string)
	// listing reports the keys paho is about to resend (on connect and
	// every reconnect) and returns those to delete first, unsent.
	listing(keys []string) (prune []string)
}

// probeFile is written and removed to test whether the store can write
// again; it lacks paho's ".msg" suffix, so paho never reads it.
const probeFile = "write-probe.tmp"

// probeEvery limits write probes while the store is failing.
const probeEvery = time.Second

func newSafeStore(inner mqtt.Store, dir string, isLatest func(string) bool, onFail func(string, error)) *safeStore {
	return &safeStore{
		inner: inner, dir: dir, onFail: onFail, isLatest: isLatest,
		spill: make(map[string]packets.ControlPacket), latest: make(map[string][]byte),
	}
}

// guard runs f, turning a panic into a reported failure; it reports
// whether f completed.
func (s *safeStore) guard(op string, f func()) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			err, isErr := r.(error)
			if !isErr {
				err = fmt.Errorf("%v", r)
			}
			s.onFail(op, err)
			ok = false
		}
	}()
	f()
	return true
}

func (s *safeStore) Open() {
	s.guard("open", s.inner.Open)
	s.mu.Lock()
	purge := !s.purgeDone
	s.purgeDone = true
	s.mu.Unlock()
	if purge {
		s.adopt()
	}
}

// adopt takes over what an earlier run left: it deletes retained status
// and state messages (the new run publishes current ones on connect, and
// paho would resend the old ones after them) and reports the others to
// the ledger, oldest first, dated by their files' modification time.
func (s *safeStore) adopt() {
	type left struct {
		key string
		p   packets.ControlPacket
		at  time.Time
	}
	var keys []string
	var found []left
	s.guard("list", func() { keys = s.inner.All() })
	for _, key := range keys {
		var p packets.ControlPacket
		s.guard("get", func() { p = s.inner.Get(key) })
		if p == nil {
			continue
		}
		if pub, ok := p.(*packets.PublishPacket); ok && pub.Retain && s.isLatest(pub.TopicName) {
			s.guard("delete", func() { s.inner.Del(key) })
			continue
		}
		at := time.Now()
		if fi, err := os.Stat(filepath.Join(s.dir, key+".msg")); err == nil {
			at = fi.ModTime()
		}
		found = append(found, left{key, p, at})
	}
	if s.ledger == nil {
		return
	}
	slices.SortStableFunc(found, func(a, b left) int { return a.at.Compare(b.at) })
	for _, l := range found {
		s.ledger.stored(l.key, l.p, l.at, false)
	}
}

func (s *safeStore) Put(key string, m packets.ControlPacket) {
	if s.guard("write", func() { s.inner.Put(key, m) }) {
		s.mu.Lock()
		s.failing = false
		delete(s.spill, key)
		s.mu.Unlock()
	} else {
		s.mu.Lock()
		s.failing = true
		s.spill[key] = detach(m)
		s.mu.Unlock()
	}
	if s.ledger != nil {
		s.ledger.stored(key, m, time.Now(), true)
	}
}

// detach returns a copy of m that shares nothing paho may write: paho
// keeps the packet it stored and sets its header fields each time it
// sends it (and resends run while a resume reads the store), as
// FileStore's copies on disk never see. The copy goes through the wire
// format, as FileStore's does; a packet that cannot be encoded is kept
// as it is.
func detach(m packets.ControlPacket) packets.ControlPacket {
	var b bytes.Buffer
	if err := m.Write(&b); err != nil {
		return m
	}
	c, err := packets.ReadPacket(&b)
	if err != nil {
		return m
	}
	return c
}

func (s *safeStore) Get(key string) packets.ControlPacket {
	s.mu.Lock()
	p, spilled := s.spill[key]
	s.mu.Unlock()
	if !spilled {
		s.guard("read", func() { p = s.inner.Get(key) })
	}
	if pub, ok := p.(*packets.PublishPacket); ok && pub.Retain {
		s.mu.Lock()
		if v, ok := s.latest[pub.TopicName]; ok {
			// Copy: the spilled packet is kept for later Gets.
			fresh := *pub
			fresh.Payload = v
			p = &fresh
		}
		s.mu.Unlock()
	}
	return p
}

// All lists the stored keys. paho calls it when it connects and after
// every reconnect, to resend what the store holds; the ledger's prunes
// (detections too old, or the oldest beyond max_pending) are deleted
// first, so that paho never resends them.
func (s *safeStore) All() []string {
	var keys []string
	s.guard("list", func() { keys = s.inner.All() })
	s.mu.Lock()
	for k := range s.spill {
		keys = append(keys, k)
	}
	s.mu.Unlock()
	if s.ledger == nil {
		return keys
	}
	prune := s.ledger.listing(keys)
	if len(prune) == 0 {
		return keys
	}
	gone := make(map[string]bool, len(prune))
	for _, k := range prune {
		s.remove(k)
		gone[k] = true
	}
	return slices.DeleteFunc(keys, func(k string) bool { return gone[k] })
}

// Del is paho's acknowledgement of key.
func (s *safeStore) Del(key string) {
	s.remove(key)
	if s.ledger != nil {
		s.ledger.deleted(key)
	}
}

// remove deletes key without telling the ledger.
func (s *safeStore) remove(key string) {
	s.mu.Lock()
	_, spilled := s.spill[key]
	delete(s.spill, key)
	s.mu.Unlock()
	if !spilled {
		s.guard("delete", func() { s.inner.Del(key) })
	}
}

// Close does nothing: paho closes the store when a client disconnects,
// and a client being replaced (renewClient) may finish its Disconnect
// after its successor opened the store, which would then refuse every
// write. The inner store needs no closing: it holds no open files.
func (s *safeStore) Close() {}

func (s *safeStore) Reset() {
	s.guard("reset", s.inner.Reset)
	s.mu.Lock()
	clear(s.spill)
	s.mu.Unlock()
}

// setLatest records the newest payload of a retained status or state
// topic, just before it is handed to paho.
func (s *safeStore) setLatest(topic string, payload []byte) {
	s.mu.Lock()
	s.latest[topic] = payload
	s.mu.Unlock()
}

// healthy reports whether the store can persist messages. While it is
// failing, it probes by writing a small file, at most once per probeEvery,
// so that a disk with free space again is noticed without a reconnect.
func (s *safeStore) healthy() bool {
	s.mu.Lock()
	if !s.failing {
		s.mu.Unlock()
		return true
	}
	if time.Since(s.lastProbe) < probeEvery {
		s.mu.Unlock()
		return false
	}
	s.lastProbe = time.Now()
	s.mu.Unlock()

	err := probeWrite(filepath.Join(s.dir, probeFile))
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.failing = false
	}
	return err == nil
}

// spilled is the number of packets held in memory because the disk
// refused them.
func (s *safeStore) spilled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.spill)
}

// probeWrite writes a block the size of a typical message, syncs it and
// removes it. A probe that fails leaves its (empty) file for the next one
// to truncate.
func probeWrite(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, werr := f.Write(make([]byte, 4096))
	serr := f.Sync()
	if err := errors.Join(werr, serr, f.Close()); err != nil {
		return err
	}
	return os.Remove(path)
}
