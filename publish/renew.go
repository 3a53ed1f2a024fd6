package publish

import (
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// A detection pruned from the store (the oldest beyond max_pending, or
// older than max_age) may leave its message id claimed in paho's client:
// paho frees an id only on an acknowledgement, resends (and so re-claims)
// only the keys the store lists, and has no call to release one. The
// backlog counts such orphans; once they reach orphanLimit, Run replaces
// the client with a new one on the same options and store, whose id map
// starts empty and claims only what the store lists. Connected, it costs
// one reconnect, with the session kept; during an outage, nothing.

// maxOrphans bounds the orphaned ids when max_pending leaves room for
// more; each holds a token in paho's map.
const maxOrphans = 10000

// orphanLimit leaves max_pending ids of paho's 65535, less 1000 for
// status, state and subscribe packets.
func orphanLimit(maxPending int) int {
	return max(1, min(maxOrphans, maxMessageIDs-1000-maxPending))
}

// errRetired fails the connection attempts of a replaced client.
var errRetired = errors.New("mqtt client replaced")

// newClient makes a paho client on the shared options with its own
// dialer and its own wait between attempts, and sets p.retire to stop
// both: a replaced client still in its connect loop then fails at once
// instead of connecting with our client id after its successor (the
// broker would close the successor's connection). paho copies the options
// into the client, so each gets its own dialer and handler.
func (p *Publisher) newClient() mqtt.Client {
	stop := make(chan struct{})
	var retired atomic.Bool
	p.pahoOpts.SetDialer(&net.Dialer{
		Timeout: connectTimeout,
		Control: func(string, string, syscall.RawConn) error {
			if retired.Load() {
				return errRetired
			}
			return nil
		},
	})
	p.pahoOpts.SetConnectionNotificationHandler(func(c mqtt.Client, n mqtt.ConnectionNotification) {
		if retired.Load() {
			return
		}
		if cn, ok := n.(mqtt.ConnectionNotificationConnecting); ok {
			// paho calls this at the start of every attempt, from its
			// connect loop: the backoff's wait.
			p.redial.wait(cn.IsReconnect, cn.Attempt, stop)
			return
		}
		p.onConnectionNotification(c, n)
	})
	p.retire = func() {
		retired.Store(true)
		close(stop)
	}
	return mqtt.NewClient(p.pahoOpts)
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
	p.retire()
	p.client.Disconnect(uint(disconnectQuiesce / time.Millisecond))
	p.mu.Lock()
	p.backlog.newClient()
	p.mu.Unlock()
	p.setClient(p.newClient())
	p.client.Connect()
}
