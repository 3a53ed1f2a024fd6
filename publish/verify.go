package publish

import (
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// maxUnconfirmedTracked bounds the detections awaiting their echo; past it
// the oldest are forgotten uncounted (the broker is then far behind, which
// the pending gauge shows).
const maxUnconfirmedTracked = 1 << 16

// verifier confirms that detections come back from the broker on the
// node's own subscription. MQTT 3.1.1 has no negative acknowledgement: a
// broker acknowledges, then drops, a publish its ACL denies or one over
// its message size limit, and only the echo tells.
//
// Its states, per run since start:
//   - no echo ever, while detections went out: the broker may deny reading
//     or writing the detections topic; a warning, since garssld cannot
//     tell which (and reading may be all that is denied);
//   - echoes stopped after they had worked: the broker drops detections; a
//     problem (/readyz 503) while it lasts.
//
// echo runs on paho's router goroutine, so it only hashes and deletes.
type verifier struct {
	within time.Duration
	filter string // the detections filter, for messages
	log    hclog.Logger
	obs    Observer
	seed   maphash.Seed

	mu        sync.Mutex
	enabled   bool // subscribed and not refused
	refused   bool // the broker refused the subscription (SUBACK 0x80)
	await     map[uint64]int
	order     []awaited // FIFO of await's entries
	echoed    bool      // an echo came back since start
	sent      bool      // a detection went out since start
	missing   int       // unconfirmed in the current run
	inRun     bool      // a run of unconfirmed detections lasts
	connSince time.Time // the connection's start; zero while down
}

type awaited struct {
	key uint64
	at  time.Time // handed to paho
}

func newVerifier(within time.Duration, filter string, log hclog.Logger, obs Observer) *verifier {
	return &verifier{within: within, filter: filter, log: log, obs: obs, seed: maphash.MakeSeed(), await: make(map[uint64]int)}
}

func (v *verifier) key(topic string, payload []byte) uint64 {
	var h maphash.Hash
	h.SetSeed(v.seed)
	h.WriteString(topic)
	h.WriteByte(0)
	h.Write(payload)
	return h.Sum64()
}

// subscribed records the SUBACK of the detections subscription: ok false
// means the broker refused it (or the request failed).
func (v *verifier) subscribed(ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if ok {
		v.enabled, v.refused = true, false
		return
	}
	if !v.refused {
		v.log.Warn("the broker refused the subscription to this node's detections; delivery cannot be verified (check the broker's ACL: the robot's user needs read access to its own detections)",
			"topic", v.filter)
	}
	v.enabled, v.refused = false, true
	v.clearLocked()
}

// connected notes the connection going up or down: detections wait for
// their echo only while connected, and paho resends those not yet
// acknowledged after a reconnect.
func (v *verifier) connected(up bool, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !up {
		v.connSince = time.Time{}
		return
	}
	v.connSince = now
}

// sentDetection registers a detection handed to paho and returns its
// echo key, 0 when none is awaited.
func (v *verifier) sentDetection(topic string, payload []byte, now time.Time) uint64 {
	k := v.key(topic, payload)
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.enabled {
		return 0
	}
	if len(v.order) >= maxUnconfirmedTracked {
		v.forgetOldestLocked()
	}
	v.await[k]++
	v.order = append(v.order, awaited{key: k, at: now})
	return k
}

// forget stops awaiting the echoes of detections garssld itself dropped
// from its store (max_pending, max_age).
func (v *verifier) forget(keys []uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, k := range keys {
		if k == 0 {
			continue
		}
		switch n := v.await[k]; {
		case n > 1:
			v.await[k] = n - 1
		case n == 1:
			delete(v.await, k)
		}
	}
}

func (v *verifier) forgetOldestLocked() {
	a := v.order[0]
	v.order = v.order[1:]
	if n := v.await[a.key]; n > 1 {
		v.await[a.key] = n - 1
	} else {
		delete(v.await, a.key)
	}
}

func (v *verifier) clearLocked() {
	clear(v.await)
	v.order = nil
}

// echo handles a message on the detections subscription. O(payload) hash,
// never blocks.
func (v *verifier) echo(topic string, payload []byte) {
	k := v.key(topic, payload)
	v.mu.Lock()
	defer v.mu.Unlock()
	// Any echo proves the broker lets us read, even one of a detection
	// from before this start.
	v.echoed = true
	n, ok := v.await[k]
	if !ok {
		return
	}
	if n > 1 {
		v.await[k] = n - 1
	} else {
		delete(v.await, k)
	}
	if v.inRun {
		v.log.Info("detections come back from the broker again", "topic", v.filter, "unconfirmed", v.missing)
		v.inRun, v.missing = false, 0
	}
}

// check counts the detections whose echo is overdue, and logs the start
// of a run of them once. The publisher goroutine calls it every tick.
func (v *verifier) check(now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.enabled || v.connSince.IsZero() {
		return
	}
	overdue := 0
	for len(v.order) > 0 {
		a := v.order[0]
		// Time spent disconnected does not count: paho resends then.
		if now.Sub(later(a.at, v.connSince)) < v.within {
			break
		}
		if _, ok := v.await[a.key]; ok {
			overdue++
		}
		v.forgetOldestLocked()
	}
	if overdue == 0 {
		return
	}
	v.sent = true
	for range overdue {
		v.obs.Unconfirmed()
	}
	v.missing += overdue
	if v.inRun {
		return
	}
	v.inRun = true
	if v.echoed {
		v.log.Error("the broker acknowledges detections but does not deliver them; likely causes: its ACL denies writing the detections topic, a detection exceeds its message_size_limit (see mqtt.max_message_bytes), or a bridge drops them",
			"topic", v.filter, "confirm_within", v.within, "unconfirmed", overdue)
		return
	}
	v.log.Warn(v.cannotVerifyLocked()+"; likely causes: its ACL denies this node reading or writing its detections, or a message_size_limit below the detections' size",
		"topic", v.filter, "confirm_within", v.within, "unconfirmed", overdue)
}

func (v *verifier) cannotVerifyLocked() string {
	return fmt.Sprintf("delivery cannot be verified: the broker may deny reading or writing %s", v.filter)
}

// status returns the warning and the problem to show in /readyz, each
// empty when there is none.
func (v *verifier) status() (warning, problem string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case v.refused:
		return fmt.Sprintf("delivery cannot be verified: the broker refused the subscription to %s", v.filter), ""
	case !v.enabled:
		return "", ""
	case v.inRun && v.echoed:
		return "", fmt.Sprintf("mqtt: the broker drops detections: %d published on %s did not come back within %s (ACL, message_size_limit or a bridge)",
			v.missing, v.filter, v.within)
	case v.sent && !v.echoed:
		return v.cannotVerifyLocked(), ""
	}
	return "", ""
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
