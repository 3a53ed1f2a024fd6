package view

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
)

// Event kinds, the SSE "event:" field.
const (
	EventHello     = "hello"
	EventDetection = "detection"
	EventState     = "state"
	EventReady     = "ready"
	EventStats     = "stats"
)

// Bounds of the event streams.
const (
	// historySize is how many events a reconnecting page can resume from
	// with Last-Event-ID; older ones get a fresh hello instead.
	historySize = 256
	// clientBuffer is how many events may wait for one page. A page that
	// lets more pile up is disconnected: detections never wait for it.
	clientBuffer = 64
)

var (
	errFull    = errors.New("too many viewers")
	errClosing = errors.New("garssld is stopping")
)

// event is one SSE message, formatted once for every page.
type event struct {
	id   uint64
	wire []byte
}

// client is one connected page.
type client struct {
	ch chan []byte
	// gone closes when the hub drops the page: it was slow, or the view is
	// stopping. The handler then writes what ch still holds and returns.
	gone   chan struct{}
	reason string // why gone closed; set before it closes
}

// hub fans events out to the connected pages and keeps what a page that
// connects needs: the history for Last-Event-ID and the latest state of
// everything for a hello.
type hub struct {
	runID      string
	maxViewers int
	obs        Observer

	mu      sync.Mutex
	last    uint64  // id of the latest event; ids start at 1
	history []event // oldest first, at most historySize
	clients map[*client]struct{}
	closed  bool
	hello   helloState
}

// helloState is the latest of everything, sent to a page that connects
// afresh.
type helloState struct {
	states   map[string]json.RawMessage
	stateSeq map[string]uint64
	ready    json.RawMessage
	stats    json.RawMessage
	recent   map[string][]json.RawMessage // each stream's last detection events, oldest first
	keep     int                          // detections kept per stream
}

func newHub(runID string, maxViewers, keep int, obs Observer) *hub {
	return &hub{
		runID:      runID,
		maxViewers: maxViewers,
		obs:        obs,
		clients:    make(map[*client]struct{}),
		hello: helloState{
			states:   make(map[string]json.RawMessage),
			stateSeq: make(map[string]uint64),
			recent:   make(map[string][]json.RawMessage),
			keep:     keep,
		},
	}
}

// eventID is the SSE id of event n: the run id keeps a page's
// Last-Event-ID from one run from resuming in another, whose numbers
// start again.
func (h *hub) eventID(n uint64) string { return h.runID + "-" + strconv.FormatUint(n, 10) }

// parseID returns n of an id of this run.
func (h *hub) parseID(id string) (uint64, bool) {
	rest, ok := strings.CutPrefix(id, h.runID+"-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	return n, err == nil
}

// format builds the wire form of an SSE message. data is one line of JSON
// (encoding/json escapes newlines inside strings).
func format(id, kind string, data []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(id) + len(kind) + len(data) + 24)
	b.WriteString("id: ")
	b.WriteString(id)
	b.WriteString("\nevent: ")
	b.WriteString(kind)
	b.WriteString("\ndata: ")
	b.Write(data)
	b.WriteString("\n\n")
	return b.Bytes()
}

// publish sends an event of kind to every page and records it; update,
// when not nil, changes the hello state under the same lock, so a page
// that connects gets either the event or the state it left. It never
// blocks: a page whose buffer is full is dropped.
func (h *hub) publish(kind string, data []byte, update func(*helloState)) {
	h.publishIf(kind, data, func(st *helloState) bool {
		if update != nil {
			update(st)
		}
		return true
	})
}

// publishIf is publish when update reports the state changed.
func (h *hub) publishIf(kind string, data []byte, update func(*helloState) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !update(&h.hello) {
		return
	}
	h.last++
	e := event{id: h.last, wire: format(h.eventID(h.last), kind, data)}
	if len(h.history) >= historySize {
		copy(h.history, h.history[1:])
		h.history[len(h.history)-1] = event{}
		h.history = h.history[:len(h.history)-1]
	}
	h.history = append(h.history, e)
	for c := range h.clients {
		select {
		case c.ch <- e.wire:
		default:
			h.dropLocked(c, "slow")
		}
	}
}

// dropLocked ends c's stream for reason; h.mu is held.
func (h *hub) dropLocked(c *client, reason string) {
	delete(h.clients, c)
	c.reason = reason
	close(c.gone)
	h.obs.ViewerDropped(reason)
	h.obs.Viewers(len(h.clients))
}

// join registers a page. It returns what the page gets first: the events
// after lastID when the history still holds all of them, else a hello
// built by hello (called with h.mu held, given the id it carries).
func (h *hub) join(lastID string, hello func(id string, st *helloState) []byte) (*client, [][]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, nil, errClosing
	}
	if len(h.clients) >= h.maxViewers {
		h.obs.ViewerDropped("max_viewers")
		return nil, nil, errFull
	}
	c := &client{ch: make(chan []byte, clientBuffer), gone: make(chan struct{})}
	h.clients[c] = struct{}{}
	h.obs.Viewers(len(h.clients))
	if n, ok := h.parseID(lastID); ok && n <= h.last && h.covers(n) {
		var backlog [][]byte
		for _, e := range h.history {
			if e.id > n {
				backlog = append(backlog, e.wire)
			}
		}
		return c, backlog, nil
	}
	return c, [][]byte{hello(h.eventID(h.last), &h.hello)}, nil
}

// covers reports whether the history holds every event after n.
func (h *hub) covers(n uint64) bool {
	if n == h.last {
		return true
	}
	return len(h.history) > 0 && h.history[0].id <= n+1
}

// leave unregisters c, if the hub has not dropped it already; slow says
// its writes timed out, which counts as a drop.
func (h *hub) leave(c *client, slow bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; !ok {
		return
	}
	if slow {
		h.dropLocked(c, "slow")
		return
	}
	delete(h.clients, c)
	h.obs.Viewers(len(h.clients))
}

// viewers is how many pages are connected.
func (h *hub) viewers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// close drops every page, and with refuse refuses new ones.
func (h *hub) close(refuse bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = h.closed || refuse
	for c := range h.clients {
		h.dropLocked(c, "stopping")
	}
}
