package publish

import (
	"slices"
	"strings"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// backlog accounts for the detections in paho's store that the broker has
// not acknowledged, by store key ("o.<message id>"). paho deletes a key
// when its PUBACK (or PUBCOMP) arrives, and only then; its tokens are no
// guide, since it completes the tokens of stored messages when it resends
// them after a reconnect, before any acknowledgement. The Publisher owns a
// backlog and guards it with its own mutex, so that queued + stored is
// one exact sum.
//
// A key removed from the store without an acknowledgement (pruned: the
// oldest beyond max_pending, or older than max_age) may leave its message
// id claimed in paho's client, which has no call to release it: paho
// frees an id only on an acknowledgement, and resends (and so re-claims)
// only the keys the store lists. Such ids are remembered as orphans until
// a late acknowledgement frees them or the client is replaced.
type backlog struct {
	entries map[string]*backlogEntry
	// order lists keys oldest first. Keys acknowledged out of order stay
	// in it until they reach the front or order is compacted.
	order   []backlogRef
	next    uint64
	orphans map[string]bool
	// forgotten holds the echo keys of pruned detections until the
	// publisher tells its verifier not to await them.
	forgotten []uint64
}

type backlogEntry struct {
	n  uint64    // position in order
	at time.Time // when it entered the store
	// claimed: the current paho client holds the message's id (it
	// stored the message, or listed it to resend).
	claimed bool
	// echo is the delivery verifier's key of the message, 0 when it is
	// not verified.
	echo uint64
}

type backlogRef struct {
	key string
	n   uint64
}

func newBacklog() *backlog {
	return &backlog{entries: make(map[string]*backlogEntry), orphans: make(map[string]bool)}
}

func (b *backlog) len() int { return len(b.entries) }

func (b *backlog) has(key string) bool { _, ok := b.entries[key]; return ok }

// add records key as stored at at and reports whether it is new; a key
// already present keeps its age (paho writes a QoS 2 message's PUBREL
// over it).
func (b *backlog) add(key string, at time.Time, claimed bool, echo uint64) bool {
	if _, ok := b.entries[key]; ok {
		return false
	}
	b.next++
	b.entries[key] = &backlogEntry{n: b.next, at: at, claimed: claimed, echo: echo}
	b.order = append(b.order, backlogRef{key, b.next})
	return true
}

// acked removes key on its acknowledgement and reports whether it was
// accounted. A late acknowledgement of a pruned key frees its orphan.
func (b *backlog) acked(key string) bool {
	if _, ok := b.entries[key]; ok {
		b.remove(key)
		return true
	}
	delete(b.orphans, key)
	return false
}

func (b *backlog) remove(key string) {
	delete(b.entries, key)
	if len(b.order) > 64 && len(b.order) > 2*len(b.entries) {
		b.order = slices.DeleteFunc(b.order, func(r backlogRef) bool { return !b.live(r) })
	}
}

func (b *backlog) live(r backlogRef) bool {
	e, ok := b.entries[r.key]
	return ok && e.n == r.n
}

// prune removes key unacknowledged; its id becomes an orphan if the
// client holds it.
func (b *backlog) prune(key string) {
	if e := b.entries[key]; e != nil {
		if e.claimed {
			b.orphans[key] = true
		}
		if e.echo != 0 {
			b.forgotten = append(b.forgotten, e.echo)
		}
	}
	b.remove(key)
}

// takeForgotten returns the echo keys of the detections pruned since the
// last call: they will never reach the broker, so no echo is due.
func (b *backlog) takeForgotten() []uint64 {
	f := b.forgotten
	b.forgotten = nil
	return f
}

// oldest returns the key stored longest ago.
func (b *backlog) oldest() (string, bool) {
	for len(b.order) > 0 {
		r := b.order[0]
		if b.live(r) {
			return r.key, true
		}
		b.order[0] = backlogRef{}
		b.order = b.order[1:]
	}
	b.order = nil
	return "", false
}

// resume is called when paho lists the store to (re)send it: keys older
// than maxAge (0 keeps all) and the oldest beyond limit are pruned and
// returned; every key left is claimed by the client from now on.
func (b *backlog) resume(now time.Time, maxAge time.Duration, limit int) (expired, over []string) {
	if maxAge > 0 {
		for _, r := range slices.Clone(b.order) {
			if e := b.entries[r.key]; b.live(r) && now.Sub(e.at) > maxAge {
				expired = append(expired, r.key)
				b.prune(r.key)
			}
		}
	}
	for b.len() > limit {
		k, _ := b.oldest()
		over = append(over, k)
		b.prune(k)
	}
	for _, e := range b.entries {
		e.claimed = true
	}
	return expired, over
}

// newClient forgets the orphans and claims: a new paho client holds no
// ids until it lists the store.
func (b *backlog) newClient() {
	clear(b.orphans)
	for _, e := range b.entries {
		e.claimed = false
	}
}

// orphaned is the number of message ids pruned messages may hold in the
// current client.
func (b *backlog) orphaned() int { return len(b.orphans) }

// backlogged reports whether a stored packet is a detection awaiting its
// acknowledgement: an outbound publish that is not retained (status, state
// and tracks messages are) nor a track event, or the PUBREL of one at QoS
// 2. Track events stay out of the backlog, so max_pending and max_age
// never prune them (issue 15: there are few, and a lost end would leave a
// track open forever).
func backlogged(key string, p packets.ControlPacket) bool {
	if !strings.HasPrefix(key, "o.") {
		return false
	}
	switch m := p.(type) {
	case *packets.PublishPacket:
		return !m.Retain && m.Qos > 0 && !isEvents(m.TopicName)
	case *packets.PubrelPacket:
		return true
	}
	return false
}

// stored implements storeLedger: a detection paho stored while the
// publisher handed it over moves from handing to the backlog in one step.
func (p *Publisher) stored(key string, pkt packets.ControlPacket, at time.Time, claimed bool) {
	if !backlogged(key, pkt) {
		return
	}
	var echo uint64
	if m, ok := pkt.(*packets.PublishPacket); ok && p.verify != nil {
		echo = p.verify.key(m.TopicName, m.Payload)
	}
	p.mu.Lock()
	if _, ok := pkt.(*packets.PubrelPacket); ok && claimed && !p.backlog.has(key) {
		// The PUBREL names no topic: one replacing a publish that was not
		// accounted (an event) is not a detection. After a restart it
		// cannot be told, and is counted.
		p.mu.Unlock()
		return
	}
	if p.backlog.add(key, at, claimed, echo) && claimed && p.handing > 0 {
		p.handing--
	}
	p.reportPendingLocked()
	p.mu.Unlock()
}

// deleted implements storeLedger: paho deletes a key on its
// acknowledgement.
func (p *Publisher) deleted(key string) {
	p.mu.Lock()
	acked := p.backlog.acked(key)
	if acked {
		p.reportPendingLocked()
	}
	dropped, ended := p.endBurstLocked()
	p.mu.Unlock()
	if acked {
		p.obs.Published(KindDetection)
		p.signal()
	}
	if ended {
		p.log.Info("mqtt backlog is below max_pending again", "dropped", dropped)
	}
}

// listing implements storeLedger: before paho resends the store after a
// (re)connect, detections older than max_age, and the oldest beyond
// max_pending, are taken out and counted as dropped.
func (p *Publisher) listing([]string) []string {
	p.mu.Lock()
	limit := max(0, p.o.MaxPending-len(p.queue)-p.handing-p.inflight)
	expired, over := p.backlog.resume(time.Now(), p.o.MaxAge, limit)
	p.reportPendingLocked()
	forgotten := p.backlog.takeForgotten()
	p.mu.Unlock()
	p.forgetEchoes(forgotten)
	for range expired {
		p.obs.Dropped(DropExpired)
	}
	for range over {
		p.obs.Dropped(DropMaxPending)
	}
	if len(expired) > 0 {
		p.log.Warn("dropping stored detections older than max_age instead of resending them",
			"count", len(expired), "max_age", p.o.MaxAge)
	}
	if len(over) > 0 {
		p.log.Warn("dropping the oldest stored detections beyond max_pending instead of resending them",
			"count", len(over), "max_pending", p.o.MaxPending)
	}
	return append(expired, over...)
}

// forgetEchoes tells the verifier that pruned detections will never be
// delivered: a drop garssld made itself and counted is not the broker's.
func (p *Publisher) forgetEchoes(keys []uint64) {
	if p.verify != nil && len(keys) > 0 {
		p.verify.forget(keys)
	}
}
