package publish

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Duplicate node detection.
const (
	// statusReadWait bounds the wait for the retained status at start,
	// before the first online announcement.
	statusReadWait = 2 * time.Second
	// quickLoss is how soon after connecting a lost connection counts as
	// closed by the broker right away, as it is when another client takes
	// over the client id.
	quickLoss = 5 * time.Second
	// quickLossesToWarn in a row are logged once.
	quickLossesToWarn = 3
	// conflictShownFor is how long /readyz shows a conflict after the
	// last sign of it.
	conflictShownFor = 5 * time.Minute
	// maxStatusBytes bounds a status message worth parsing; garssld's own
	// are a few hundred bytes.
	maxStatusBytes = 64 << 10
)

// conflicts watches for another process publishing as this node: a status
// message (retained or live) carrying another run_id after this run's own
// online came back, or connections the broker closes right after connect.
// A leftover of this node's own earlier run (a SIGKILL leaves its online
// retained) precedes this run's online, so it is not one. status runs on
// paho's router goroutine: it parses a small JSON object and records.
type conflicts struct {
	node, runID, clientID, topic string
	log                          hclog.Logger

	mu        sync.Mutex
	read      chan struct{} // closed when the retained status was read at start
	readDone  bool
	sawOwn    bool   // this run's online came back
	other     string // the last other run_id seen
	otherAt   time.Time
	connAt    time.Time
	quick     int  // connections lost within quickLoss in a row
	quickSaid bool // the quick losses were logged
}

func newConflicts(node, runID, clientID, topic string, log hclog.Logger) *conflicts {
	return &conflicts{node: node, runID: runID, clientID: clientID, topic: topic, log: log, read: make(chan struct{})}
}

type statusMessage struct {
	State string `json:"state"`
	RunID string `json:"run_id"`
}

// status handles a message on the node's status topic.
func (c *conflicts) status(payload []byte, now time.Time) {
	var m statusMessage
	if len(payload) > maxStatusBytes || json.Unmarshal(payload, &m) != nil {
		m = statusMessage{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.readDone {
		c.readDone = true
		close(c.read)
		if m.State == StatusOnline && m.RunID != c.runID {
			// Either this node's earlier run died without its last will
			// reaching the broker, or another process is this node; only
			// the latter publishes again after our online.
			c.log.Info("the retained status says another run of this node is online; if it publishes again, two processes share node_id",
				"node", c.node, "other_run_id", m.RunID)
		}
		if m.RunID != c.runID {
			return
		}
	}
	if m.RunID == c.runID {
		if m.State == StatusOnline {
			c.sawOwn = true
		}
		return
	}
	if !c.sawOwn || m.RunID == "" {
		return
	}
	first := c.other != m.RunID
	c.other, c.otherAt = m.RunID, now
	if first {
		c.log.Error("another process publishes as this node: two garssld (or a copy) share node_id and client_id, and the broker keeps disconnecting one for the other; give each robot its own node_id",
			"node", c.node, "other_run_id", m.RunID, "run_id", c.runID, "client_id", c.clientID, "state", m.State)
	}
}

// readAtStart returns a channel closed when the retained status has been
// read, or never if there is none (the caller bounds the wait).
func (c *conflicts) readAtStart() <-chan struct{} { return c.read }

// startRead marks the retained status read without one, after the wait.
func (c *conflicts) startRead() {
	c.mu.Lock()
	if !c.readDone {
		c.readDone = true
		close(c.read)
	}
	c.mu.Unlock()
}

func (c *conflicts) connected(now time.Time) {
	c.mu.Lock()
	c.connAt = now
	c.mu.Unlock()
}

// lost notes a lost connection; three in a row soon after connecting are
// logged once.
func (c *conflicts) lost(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.connAt.IsZero() || now.Sub(c.connAt) >= quickLoss {
		c.quick, c.quickSaid = 0, false
		return
	}
	c.quick++
	if c.quick >= quickLossesToWarn && !c.quickSaid {
		c.quickSaid = true
		c.log.Error(fmt.Sprintf("another client may be using client id %s: the broker closed the connection within %s of connecting %d times in a row; give each robot its own node_id (and client_id), or check the broker's log for why it closes connections",
			c.clientID, quickLoss, c.quick), "node", c.node, "client_id", c.clientID)
	}
}

// problem is the /readyz reason while a conflict was seen recently.
func (c *conflicts) problem(now time.Time) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.other == "" || now.Sub(c.otherAt) > conflictShownFor {
		return ""
	}
	return fmt.Sprintf("mqtt: another process (run_id %s) publishes as node %s; give each robot its own node_id", c.other, c.node)
}
