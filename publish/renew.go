package publish

import (
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// A detection pruned from the store (the oldest beyond max_pending, or
// older than max_age) may leave its message id claimed in paho's client:
// paho frees an id only on an acknowledgement, resends (and so re-claims)
// only the keys the store lists, and has no call to release one. The
// backlog counts such orphans; once they reach orphanLimit and the client
// is connected, Run replaces the client with a new one on the same
// options and store, whose id map starts empty and claims only what the
// store lists. It costs one reconnect, with the session kept.

// maxOrphans bounds the orphaned ids when max_pending leaves room for
// more; each holds a token in paho's map.
const maxOrphans = 10000

// orphanLimit leaves max_pending ids, and as many again for the orphans
// an outage can add before the client is connected and can be replaced,
// of paho's 65535 (less 1000 for status, state and subscribe packets).
func orphanLimit(maxPending int) int {
	return max(1, min(maxOrphans, (maxMessageIDs-1000-maxPending)/2))
}

// clientBox lets an interface value sit in an atomic.Pointer.
type clientBox struct{ mqtt.Client }

func (p *Publisher) setClient(c mqtt.Client) {
	p.client = c
	p.current.Store(&clientBox{c})
}

func (p *Publisher) orphans() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.backlog.orphaned()
}

// renewClient disconnects the client and connects a new one; it runs on
// Run's goroutine, which owns p.client. The old client's Disconnect
// completes its tokens; its late acknowledgements still reach the
// store, which stays open for the new client (safeStore.Close).
func (p *Publisher) renewClient() {
	n := p.orphans()
	p.log.Info("replacing the MQTT client to release the message ids of dropped detections",
		"orphaned_ids", n, "broker", p.broker)
	p.client.Disconnect(uint(disconnectQuiesce / time.Millisecond))
	p.mu.Lock()
	p.backlog.newClient()
	p.mu.Unlock()
	p.setClient(mqtt.NewClient(p.pahoOpts))
	p.client.Connect()
}
