package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/hashicorp/go-hclog"
)

// Status states published on <prefix>/<node>/status.
const (
	StatusOnline  = "online"
	StatusStopped = "stopped"
	StatusOffline = "offline"
)

// statusQoS is the QoS of status and state messages: they are retained
// and must reach the broker.
const statusQoS = 1

// Publisher publishes detections, stream states and the node's status to
// MQTT and receives set commands. Create it with New and call Run once.
type Publisher struct {
	o      Options
	log    hclog.Logger
	obs    Observer
	topics topics
	broker string // redacted, for logs
	// client is owned by Run's goroutine, which may replace it (see
	// renewClient); other goroutines read current.
	client   mqtt.Client
	current  atomic.Pointer[clientBox]
	pahoOpts *mqtt.ClientOptions
	// orphanLimit is how many message ids pruned detections may hold
	// before the client is replaced.
	orphanLimit int
	store       *safeStore
	flush       time.Duration

	ran     atomic.Bool
	wake    chan struct{} // work for the publisher goroutine
	cmdWake chan struct{} // commands for the command goroutine
	connGen atomic.Uint64 // OnConnect calls so far

	commands  *commandSlots
	verify    *verifier // nil without VerifyDelivery
	conflicts *conflicts
	failed    atomic.Int64 // failed connection attempts since the last success
	redial    *redial
	// retire stops the current client's connection attempts (see
	// newClient).
	retire func()

	mu          sync.Mutex
	queue       []detection // detections not yet handed to paho, oldest first
	handing     int         // detections inside client.Publish, not yet stored
	inflight    int         // QoS 0 detections handed to paho whose token has not completed
	backlog     *backlog    // detections in paho's store without an acknowledgement
	burst       int         // detections dropped since the backlog last filled up
	closing     bool
	streams     []string
	known       map[string]bool
	statusDirty bool
	states      map[string][]byte // latest state payload per stream
	stateSeq    map[string]uint64 // the seq of each stream's latest state
	dirty       map[string]bool   // streams whose latest state awaits publishing
	tracks      map[string][]byte // latest track list per stream
	tracksDirty map[string]bool   // streams whose latest track list awaits publishing
	events      []detection       // track events not yet handed to paho, oldest first
	eventsOut   int               // events handed to paho whose token has not completed
	subs        []subscription    // subscribe requests awaiting their SUBACK
	statusSince time.Time         // the first subscription to the status; zero before

	tokens tokenList

	connFold, cmdFold, errFold, storeFold fold
}

type detection struct {
	topic   string
	stream  string
	seq     uint64
	payload []byte
}

// New checks o and prepares the client and its file store; nothing
// connects before Run.
func New(o Options) (*Publisher, error) {
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("mqtt publisher: %w", err)
	}
	if err := os.MkdirAll(o.StoreDir, 0o700); err != nil {
		return nil, fmt.Errorf("mqtt store dir: %w", err)
	}
	p := &Publisher{
		o:        o,
		log:      o.Logger,
		obs:      o.Observer,
		topics:   newTopics(o.TopicPrefix, o.NodeID),
		broker:   redactBroker(o.Broker),
		flush:    o.FlushTimeout,
		wake:     make(chan struct{}, 1),
		cmdWake:  make(chan struct{}, 1),
		known:    make(map[string]bool),
		states:   make(map[string][]byte),
		stateSeq: make(map[string]uint64),
		dirty:    make(map[string]bool),
		backlog:  newBacklog(),

		tracks:      make(map[string][]byte),
		tracksDirty: make(map[string]bool),
		redial:      newRedial(o.MaxReconnectInterval),
	}
	if p.log == nil {
		p.log = hclog.NewNullLogger()
	}
	if p.obs == nil {
		p.obs = NopObserver{}
	}
	if p.flush == 0 {
		p.flush = DefaultFlushTimeout
	}
	p.tokens.added = make(chan struct{}, 1)
	p.commands = newCommandSlots()
	if o.VerifyDelivery {
		p.verify = newVerifier(o.ConfirmWithin, p.topics.detectionsFilter(), p.log, p.obs)
	}
	p.conflicts = newConflicts(o.NodeID, o.RunID, o.ClientID, p.topics.status(), p.log)
	newStore := o.newStore
	if newStore == nil {
		newStore = func(dir string) mqtt.Store { return mqtt.NewFileStore(dir) }
	}
	p.store = newSafeStore(newStore(o.StoreDir), o.StoreDir, p.topics.isLatest, p.storeFailed)
	p.store.ledger = p
	p.store.setLatest(p.topics.status(), p.statusPayload(StatusOnline))
	// The store is opened, and what an earlier run left in it adopted
	// into the backlog, when paho connects: on a reload the publisher
	// being replaced still uses the store until its Run returns.
	setPahoLogger(p.log.Named("paho"))

	opts := mqtt.NewClientOptions().
		AddBroker(o.Broker).
		SetClientID(o.ClientID).
		SetProtocolVersion(4).
		// A persistent session and a file store: messages not yet
		// acknowledged survive reconnects and restarts. CleanSession(true)
		// would make paho wipe the store at every connect.
		SetCleanSession(false).
		SetStore(p.store).
		// Without ConnectRetry a publish before the first connection fails
		// with ErrNotConnected instead of going to the store.
		SetConnectRetry(true).
		SetAutoReconnect(true).
		// redial waits before each attempt (see reconnect.go); paho's
		// own waits are made negligible.
		SetConnectRetryInterval(pahoDelay).
		SetMaxReconnectInterval(pahoDelay).
		SetConnectTimeout(connectTimeout).
		SetWriteTimeout(writeTimeout).
		// Handlers run in the order the broker delivered, so the last set
		// command wins; see onMessage for why that is safe.
		SetOrderMatters(true).
		SetBinaryWill(p.topics.status(), p.statusPayload(StatusOffline), statusQoS, true).
		SetOnConnectHandler(p.onConnect).
		SetConnectionLostHandler(p.onConnectionLost).
		// The broker may deliver commands for the persistent session's old
		// subscription before OnConnect has subscribed again.
		SetDefaultPublishHandler(p.onMessage)
	if o.Username != "" {
		opts.SetUsername(o.Username).SetPassword(o.Password)
	}
	if o.TLS != nil {
		opts.SetTLSConfig(o.TLS)
	}
	p.pahoOpts = opts
	p.orphanLimit = orphanLimit(o.MaxPending)
	p.setClient(p.newClient())
	return p, nil
}

// Connected reports whether the connection to the broker is up now.
func (p *Publisher) Connected() bool { return p.current.Load().IsConnectionOpen() }

// Detection queues one detection payload for <stream>/detections. It never
// blocks on the network. The Publisher keeps payload; the caller must not
// change it afterwards. When max_pending detections are pending (queued,
// or stored by paho without an acknowledgement), the oldest is dropped:
// the oldest in the file store, deleted there so that paho never resends
// it, or while the store holds none, the oldest queued.
func (p *Publisher) Detection(stream string, seq uint64, payload []byte) {
	d := detection{topic: p.topics.detections(stream), stream: stream, seq: seq, payload: payload}
	if max := p.o.MaxMessageBytes; max > 0 && len(payload) > max {
		// A broker with a smaller message_size_limit acknowledges and
		// drops it; better not to send it and say so.
		p.obs.Dropped(DropTooLarge)
		if logIt, folded := p.storeFold.note("drop " + DropTooLarge); logIt {
			p.log.Warn("a detection is larger than mqtt.max_message_bytes; not sent",
				"stream", stream, "seq", seq, "bytes", len(payload), "max_message_bytes", max, "repeats", folded)
		}
		return
	}
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		p.obs.Dropped(DropShutdown)
		p.log.Debug("detection after shutdown began; dropped", "stream", stream, "seq", seq)
		return
	}
	if p.pendingLocked() < p.o.MaxPending {
		p.queue = append(p.queue, d)
		p.reportPendingLocked()
		p.mu.Unlock()
		p.signal()
		return
	}
	from := "file store"
	if key, ok := p.backlog.oldest(); ok {
		p.backlog.prune(key)
		// A file removal, under the lock so that no resume lists the key
		// in between; paho's own store calls never wait for this lock.
		p.store.remove(key)
		p.queue = append(p.queue, d)
	} else if len(p.queue) > 0 {
		p.popLocked()
		p.queue = append(p.queue, d)
		from = "queue"
	} else {
		// Every pending detection is inside a paho call or a QoS 0 token
		// in flight: none can be taken back, so the new one goes.
		from = "new"
	}
	p.reportPendingLocked()
	p.burst++
	first := p.burst == 1
	forgotten := p.backlog.takeForgotten()
	p.mu.Unlock()
	p.forgetEchoes(forgotten)
	p.obs.Dropped(DropMaxPending)
	if first {
		p.log.Warn("mqtt backlog is full; dropping the oldest detections until the broker takes messages again",
			"max_pending", p.o.MaxPending, "from", from, "stream", stream, "seq", seq)
	}
	p.signal()
}

// pendingLocked is the number of pending detections; p.mu must be held.
func (p *Publisher) pendingLocked() int {
	return len(p.queue) + p.handing + p.inflight + p.backlog.len()
}

// reportPendingLocked tells the Observer the pending count. It is called
// under p.mu so that concurrent changes report in order and the last
// value is exact.
func (p *Publisher) reportPendingLocked() { p.obs.Pending(p.pendingLocked()) }

// endBurstLocked reports, once the backlog is below max_pending again
// after drops, how many were dropped; p.mu must be held.
func (p *Publisher) endBurstLocked() (dropped int, ended bool) {
	if p.burst == 0 || p.pendingLocked() >= p.o.MaxPending {
		return 0, false
	}
	dropped, p.burst = p.burst, 0
	return dropped, true
}

// StreamState records a stream's state for the retained <stream>/state
// topic. It never blocks: updates are coalesced to the latest per stream
// and published by Run when connected (and again after every reconnect).
// errText may be empty. seq numbers the stream's states: callers report
// from several goroutines, so an update with a lower seq than the one
// kept arrived late and is dropped.
func (p *Publisher) StreamState(stream, state, errText string, seq uint64) {
	payload := StatePayload(state, errText)
	p.mu.Lock()
	if last, ok := p.stateSeq[stream]; ok && seq < last {
		p.mu.Unlock()
		return
	}
	p.stateSeq[stream] = seq
	// Any resend of an older state message carries this one from now on;
	// set under p.mu, so in seq order.
	p.store.setLatest(p.topics.state(stream), payload)
	p.states[stream] = payload
	p.dirty[stream] = true
	p.mu.Unlock()
	p.signal()
}

// StatePayload is the retained <stream>/state payload for state; errText
// may be empty (the error member is then null). The live view sends the
// same JSON.
func StatePayload(state, errText string) []byte {
	var e *string
	if errText != "" {
		e = &errText
	}
	payload, _ := json.Marshal(struct {
		State string  `json:"state"`
		Error *string `json:"error"`
	}{state, e})
	return payload
}

// maxQueuedEvents bounds the track events kept in memory while paho cannot
// take them (QoS 0 or a failing file store while the broker is away). A
// stream makes a few a minute; this is hours of them.
const maxQueuedEvents = 4096

// Event queues one track event for <stream>/events, at the detections'
// QoS and not retained. It never blocks. Events do not count towards
// max_pending and are never pruned by it or by max_age (see backlogged):
// a lost end would leave a track open forever. They are handed to paho in
// order; while paho cannot keep them (QoS 0 and no connection) they wait
// in memory, up to maxQueuedEvents.
func (p *Publisher) Event(stream string, payload []byte) {
	e := detection{topic: p.topics.events(stream), stream: stream, payload: payload}
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		p.obs.Dropped(DropShutdown)
		p.log.Warn("track event after shutdown began; dropped", "stream", stream)
		return
	}
	dropped := false
	if len(p.events) >= maxQueuedEvents {
		p.events = p.events[1:]
		dropped = true
	}
	p.events = append(p.events, e)
	p.mu.Unlock()
	if dropped {
		p.obs.Dropped(DropPublishError)
		if logIt, folded := p.storeFold.note("drop event"); logIt {
			p.log.Warn("too many track events wait for the broker; dropping the oldest", "stream", stream, "repeats", folded)
		}
	}
	p.signal()
}

// Tracks records a stream's current track list for the retained
// <stream>/tracks topic (QoS 1). Like StreamState it never blocks, is
// coalesced to the latest per stream, and is published when connected
// and again after every reconnect. Calls for a stream must come in order.
func (p *Publisher) Tracks(stream string, payload []byte) {
	p.mu.Lock()
	p.store.setLatest(p.topics.tracks(stream), payload)
	p.tracks[stream] = payload
	p.tracksDirty[stream] = true
	p.mu.Unlock()
	p.signal()
}

// SetStreams sets the stream names listed in the online status and
// accepted on set topics. When connected, the status is published again.
func (p *Publisher) SetStreams(names []string) {
	names = slices.Clone(names)
	slices.Sort(names)
	p.mu.Lock()
	p.streams = names
	p.known = make(map[string]bool, len(names))
	for _, n := range names {
		p.known[n] = true
	}
	p.commands.forget(p.known)
	closing := p.closing
	p.statusDirty = true
	p.mu.Unlock()
	if !closing {
		p.store.setLatest(p.topics.status(), p.statusPayload(StatusOnline))
	}
	p.signal()
}

// statusPayload is the status message for state. The will (offline) is
// fixed when the client is made, before the streams are known, so it
// names none.
func (p *Publisher) statusPayload(state string) []byte {
	var streams *[]string // nil leaves the member out
	if state != StatusOffline {
		p.mu.Lock()
		list := p.streams
		p.mu.Unlock()
		if list == nil {
			list = []string{}
		}
		streams = &list
	}
	b, _ := json.Marshal(struct {
		State   string    `json:"state"`
		Node    string    `json:"node"`
		RunID   string    `json:"run_id"`
		Version string    `json:"version"`
		Streams *[]string `json:"streams,omitempty"`
	}{state, p.o.NodeID, p.o.RunID, p.o.Version, streams})
	return b
}

func (p *Publisher) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// loopState is what the publisher goroutine remembers between steps.
type loopState struct {
	open bool   // connection state last reported to the Observer
	gen  uint64 // OnConnect generation last handled
}

// Run connects, publishes until ctx ends, then shuts down: it hands the
// queued detections to paho, publishes "stopped" and waits for it and for
// outstanding acknowledgements (while connected, up to FlushTimeout), and
// disconnects. Detections still unacknowledged stay in the file store and
// are sent after the next start. Run returns nil after a shutdown; it may
// be called once.
func (p *Publisher) Run(ctx context.Context) error {
	if !p.ran.CompareAndSwap(false, true) {
		return errors.New("mqtt publisher: Run called twice")
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.watchTokens(stop) }()
	go func() { defer wg.Done(); p.commands.run(stop, p.log, p.o.OnSet) }()

	p.log.Info("connecting to the MQTT broker", "broker", p.broker, "client_id", p.o.ClientID)
	// With ConnectRetry the token completes only at the first success; it
	// is not waited for.
	p.client.Connect()

	var st loopState
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for {
		if p.o.Heartbeat != nil {
			p.o.Heartbeat()
		}
		select {
		case <-ctx.Done():
			p.shutdown(&st)
			close(stop)
			wg.Wait()
			p.retire()
			p.client.Disconnect(uint(disconnectQuiesce / time.Millisecond))
			if st.open {
				p.obs.Connected(false)
			}
			p.mu.Lock()
			left := p.backlog.len()
			p.mu.Unlock()
			if left > 0 {
				p.log.Info("detections not yet acknowledged stay in the MQTT file store and go out after the next start",
					"count", left, "store_dir", p.o.StoreDir)
			}
			p.log.Info("disconnected from the MQTT broker", "broker", p.broker)
			return nil
		case <-p.wake:
		case <-tick.C:
		}
		p.step(&st, time.Time{})
	}
}

// step does whatever is due: notice connection changes, subscribe and
// announce after a (re)connect, publish the status and states when
// connected, and hand queued detections to paho. A non-zero deadline
// drops the detections it cannot hand over in time.
func (p *Publisher) step(st *loopState, deadline time.Time) {
	open := p.client.IsConnectionOpen()
	if open != st.open {
		st.open = open
		p.obs.Connected(open)
	}
	if p.orphans() >= p.orphanLimit {
		p.renewClient()
		return
	}
	if gen := p.connGen.Load(); open && gen != st.gen {
		st.gen = gen
		p.subscribe(gen)
		p.mu.Lock()
		p.statusDirty = true
		for s := range p.states {
			p.dirty[s] = true
		}
		for s := range p.tracks {
			p.tracksDirty[s] = true
		}
		p.mu.Unlock()
	}
	p.checkSubscriptions(st.gen)
	if p.verify != nil {
		p.verify.check(time.Now())
	}
	if open {
		p.publishStatus()
		p.publishStates()
	}
	p.publishEvents(open, deadline)
	p.publishDetections(open, deadline)
}

// publishEvents hands the queued track events to paho, oldest first,
// before the detections of the same step.
func (p *Publisher) publishEvents(open bool, deadline time.Time) {
	for {
		p.mu.Lock()
		if len(p.events) == 0 {
			p.mu.Unlock()
			return
		}
		late := !deadline.IsZero() && time.Now().After(deadline)
		if !late && !open && (p.o.QoS == 0 || !p.store.healthy()) {
			// paho would keep nothing: wait for the connection.
			p.mu.Unlock()
			return
		}
		e := p.events[0]
		p.events[0] = detection{}
		p.events = p.events[1:]
		if late {
			p.mu.Unlock()
			p.dropped(e, DropShutdown)
			continue
		}
		p.eventsOut++
		p.mu.Unlock()
		tok := p.client.Publish(e.topic, p.o.QoS, false, e.payload)
		p.tokens.add(pendingToken{tok: tok, kind: KindEvent, stream: e.stream})
	}
}

func (p *Publisher) publishStatus() {
	p.mu.Lock()
	dirty := p.statusDirty && !p.closing
	since := p.statusSince
	p.mu.Unlock()
	if !dirty || !p.statusRead(since) {
		return
	}
	p.mu.Lock()
	p.statusDirty = false
	p.mu.Unlock()
	payload := p.statusPayload(StatusOnline)
	p.store.setLatest(p.topics.status(), payload)
	tok := p.client.Publish(p.topics.status(), statusQoS, true, payload)
	p.tokens.add(pendingToken{tok: tok, kind: KindStatus})
}

func (p *Publisher) publishStates() {
	p.publishLatest(p.dirty, p.states, p.topics.state, KindState)
	p.publishLatest(p.tracksDirty, p.tracks, p.topics.tracks, KindTracks)
}

// publishLatest publishes, retained, the latest payload of every stream
// marked dirty, and clears the marks.
func (p *Publisher) publishLatest(dirty map[string]bool, latest map[string][]byte, topic func(string) string, kind string) {
	p.mu.Lock()
	due := make(map[string][]byte, len(dirty))
	for s := range dirty {
		due[s] = latest[s]
	}
	clear(dirty)
	p.mu.Unlock()
	for _, s := range slices.Sorted(maps.Keys(due)) {
		tok := p.client.Publish(topic(s), statusQoS, true, due[s])
		p.tokens.add(pendingToken{tok: tok, kind: kind, stream: s})
	}
}

func (p *Publisher) publishDetections(open bool, deadline time.Time) {
	for {
		// While disconnected a detection goes to the file store only; if
		// the store cannot write, it would live in memory alone. paho
		// stores nothing at QoS 0, and leaves a QoS 0 token published
		// while connecting incomplete forever.
		var reason string
		switch {
		case !deadline.IsZero() && time.Now().After(deadline):
			reason = DropShutdown
		case open:
		case p.o.QoS == 0:
			reason = DropPublishError
		case !p.store.healthy():
			reason = DropStoreError
		}
		p.mu.Lock()
		if len(p.queue) == 0 {
			p.mu.Unlock()
			return
		}
		d := p.popLocked()
		if reason != "" {
			p.reportPendingLocked()
			p.mu.Unlock()
			p.dropped(d, reason)
			continue
		}
		// While handing is set, the detection counts as pending; paho's
		// Put moves it to the backlog (see stored).
		p.handing++
		p.mu.Unlock()
		var echo uint64
		if p.verify != nil {
			echo = p.verify.sentDetection(d.topic, d.payload, time.Now())
		}
		tok := p.client.Publish(d.topic, p.o.QoS, false, d.payload)
		p.mu.Lock()
		notStored := p.handing > 0
		p.handing = 0
		if notStored && p.o.QoS == 0 {
			p.inflight++
		}
		p.reportPendingLocked()
		p.mu.Unlock()
		switch {
		case !notStored:
			// Accounted by the store: published on its acknowledgement.
		case p.o.QoS == 0:
			p.tokens.add(pendingToken{tok: tok, kind: KindDetection, stream: d.stream, seq: d.seq, echo: echo})
		default:
			// paho refused it before storing (no connection, no free
			// message id): nobody will send it, nor echo it.
			p.forgetEchoes([]uint64{echo})
			p.obs.Dropped(DropPublishError)
			if logIt, folded := p.errFold.note(fmt.Sprint(tok.Error())); logIt {
				p.log.Warn("paho refused a detection", "stream", d.stream, "seq", d.seq, "error", tok.Error(), "repeats", folded)
			}
		}
	}
}

// dropped counts a detection the publisher could not hand to paho, and
// logs the first of a kind.
func (p *Publisher) dropped(d detection, reason string) {
	p.obs.Dropped(reason)
	logIt, folded := p.storeFold.note("drop " + reason)
	if !logIt {
		return
	}
	switch reason {
	case DropStoreError:
		p.log.Error("mqtt file store cannot write and the broker is unreachable; dropping detections",
			"store_dir", p.o.StoreDir, "stream", d.stream, "seq", d.seq, "repeats", folded)
	case DropPublishError:
		p.log.Warn("the broker is unreachable and QoS 0 messages are not stored; dropping detections (use qos = 1 to keep them)",
			"stream", d.stream, "seq", d.seq, "repeats", folded)
	}
}

// popLocked removes the oldest queued detection; p.mu must be held.
func (p *Publisher) popLocked() detection {
	d := p.queue[0]
	p.queue[0] = detection{}
	p.queue = p.queue[1:]
	if len(p.queue) == 0 {
		p.queue = nil // let the backing array go after a burst
	}
	return d
}

// shutdown flushes before Disconnect, within the flush timeout.
func (p *Publisher) shutdown(st *loopState) {
	deadline := time.Now().Add(p.flush)
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	p.step(st, deadline)

	if p.client.IsConnectionOpen() {
		payload := p.statusPayload(StatusStopped)
		p.store.setLatest(p.topics.status(), payload)
		tok := p.client.Publish(p.topics.status(), statusQoS, true, payload)
		timer := time.NewTimer(time.Until(deadline))
		select {
		case <-tok.Done():
			if err := tok.Error(); err != nil {
				p.log.Warn("cannot publish the stopped status", "error", err)
			} else {
				p.obs.Published(KindStatus)
			}
		case <-timer.C:
			p.log.Warn("the broker did not acknowledge the stopped status within the flush timeout", "flush_timeout", p.flush)
		}
		timer.Stop()
	}

	// Wait for detections in flight while the broker can still
	// acknowledge them.
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		p.mu.Lock()
		n := p.inflight + p.backlog.len() + p.eventsOut
		p.mu.Unlock()
		if n == 0 || !p.client.IsConnectionOpen() || time.Now().After(deadline) {
			return
		}
		select {
		case <-p.wake:
		case <-poll.C:
		}
	}
}

// pendingToken is a paho token the watcher waits for.
type pendingToken struct {
	tok    mqtt.Token
	kind   string
	stream string
	seq    uint64
	echo   uint64 // a QoS 0 detection's echo key, forgotten if it fails
}

// tokenList is the FIFO of tokens in the order they were handed to paho.
type tokenList struct {
	mu    sync.Mutex
	list  []pendingToken
	added chan struct{}
}

func (l *tokenList) add(t pendingToken) {
	l.mu.Lock()
	l.list = append(l.list, t)
	l.mu.Unlock()
	select {
	case l.added <- struct{}{}:
	default:
	}
}

// watchTokens waits for tokens in the order they were handed to paho and
// accounts for each. It never blocks the publisher goroutine; every wait
// is a select that stop ends.
func (p *Publisher) watchTokens(stop <-chan struct{}) {
	for {
		p.tokens.mu.Lock()
		if len(p.tokens.list) == 0 {
			p.tokens.mu.Unlock()
			select {
			case <-p.tokens.added:
				continue
			case <-stop:
				return
			}
		}
		head := p.tokens.list[0]
		p.tokens.mu.Unlock()
		select {
		case <-head.tok.Done():
		case <-stop:
			return
		}
		p.tokens.mu.Lock()
		p.tokens.list[0] = pendingToken{}
		p.tokens.list = p.tokens.list[1:]
		p.tokens.mu.Unlock()
		p.completed(head)
	}
}

func (p *Publisher) completed(t pendingToken) {
	err := t.tok.Error()
	switch t.kind {
	case KindDetection:
		// QoS 0 only: paho stores nothing, and the token completes when
		// the message is written to the network.
		p.mu.Lock()
		p.inflight--
		p.reportPendingLocked()
		dropped, endBurst := p.endBurstLocked()
		p.mu.Unlock()
		if endBurst {
			p.log.Info("mqtt backlog is below max_pending again", "dropped", dropped)
		}
		if err != nil {
			p.forgetEchoes([]uint64{t.echo})
			p.obs.Dropped(DropPublishError)
			if logIt, folded := p.errFold.note(err.Error()); logIt {
				p.log.Warn("paho failed a detection; it is not published again", "stream", t.stream, "seq", t.seq, "error", err, "repeats", folded)
			}
		} else {
			p.obs.Published(KindDetection)
		}
		p.signal()
	case KindEvent:
		p.mu.Lock()
		p.eventsOut--
		p.mu.Unlock()
		if err != nil {
			// paho keeps a stored event and resends it after a
			// reconnect; only a refusal before storing loses it.
			p.obs.Dropped(DropPublishError)
			if logIt, folded := p.errFold.note(err.Error()); logIt {
				p.log.Warn("paho failed a track event", "stream", t.stream, "error", err, "repeats", folded)
			}
		} else {
			p.obs.Published(KindEvent)
		}
		p.signal()
	case KindState, KindStatus, KindTracks:
		if err != nil {
			p.log.Warn("cannot publish "+t.kind, "stream", t.stream, "error", err)
		} else {
			p.obs.Published(t.kind)
		}
	}
}

// onConnect runs in a goroutine paho starts after each (re)connect. It
// only signals: the publisher goroutine subscribes and publishes the
// status and states, so no paho callback publishes or blocks.
func (p *Publisher) onConnect(mqtt.Client) {
	now := time.Now()
	p.conflicts.connected(now)
	if p.verify != nil {
		p.verify.connected(true, now)
	}
	p.connGen.Add(1)
	failed := p.failed.Swap(0)
	p.connFold.reset()
	resetPahoFolds()
	p.log.Info("connected to the MQTT broker", "broker", p.broker, "failed_attempts", failed)
	p.signal()
}

func (p *Publisher) onConnectionLost(_ mqtt.Client, err error) {
	now := time.Now()
	p.conflicts.lost(now)
	if p.verify != nil {
		p.verify.connected(false, now)
	}
	p.log.Warn("lost the connection to the MQTT broker; reconnecting", "broker", p.broker, "error", err)
	p.signal()
}

// onConnectionNotification logs failed connection attempts, which paho
// reports nowhere else but its own loggers, with what to check, folding
// repeats. paho calls it synchronously from its connect loop.
func (p *Publisher) onConnectionNotification(_ mqtt.Client, n mqtt.ConnectionNotification) {
	failed, ok := n.(mqtt.ConnectionNotificationFailed)
	if !ok {
		return
	}
	attempts := p.failed.Add(1)
	reason := describeConnError(failed.Reason, p.o.TLS != nil || isTLSBroker(p.o.Broker))
	logIt, folded := p.connFold.note(reason)
	if !logIt {
		return
	}
	p.log.Error("cannot connect to the MQTT broker; retrying", "broker", p.broker, "reason", reason,
		"error", failed.Reason, "failed_attempts", attempts, "repeats", folded)
}

// storeFailed is safeStore's report of a recovered I/O panic.
func (p *Publisher) storeFailed(op string, err error) {
	if logIt, folded := p.storeFold.note(op); logIt {
		p.log.Error("mqtt file store failed; messages are kept in memory only until it recovers",
			"op", op, "store_dir", p.o.StoreDir, "error", err, "repeats", folded)
	}
}

// onMessage handles every message the broker delivers: set commands,
// the echo of this node's detections and its status.
//
// paho runs it with OrderMatters(true), so in the order the broker
// delivered, which is what makes the last set command win. In paho
// v1.5.1 (router.go matchAndDispatch, client.go startCommsWorkers) that
// means on the router goroutine, which calls each handler inline and
// then queues the message's PUBACK; the goroutine that reads the
// connection hands each incoming PUBLISH to the router over an
// unbuffered channel and reads PUBACKs, SUBACKs and PINGRESPs in the same
// loop. A handler that blocked would stall the acknowledgements of our
// publishes and the keepalive, and one that called Publish or Subscribe
// and waited could deadlock. So every branch here is an O(1) hand-off
// (a hash of the payload for an echo, a small JSON parse for a status or
// command, a map write under a short lock and a non-blocking signal); the
// work happens on goroutines Run owns.
func (p *Publisher) onMessage(_ mqtt.Client, m mqtt.Message) {
	topic := m.Topic()
	switch {
	case topic == p.topics.status():
		p.conflicts.status(m.Payload(), time.Now())
		p.signal()
		return
	case p.topics.isDetections(topic):
		if p.verify != nil {
			p.verify.echo(topic, m.Payload())
		}
		return
	}
	stream, ok := p.topics.streamOfSet(topic)
	if !ok {
		return
	}
	if m.Retained() {
		// A retained command is stale by definition: it must not override
		// the config after a restart.
		p.obs.Command(CommandIgnoredRetained)
		if logIt, _ := p.cmdFold.note("retained " + stream); logIt {
			p.log.Info("ignoring a retained set command; commands take effect only when sent live", "stream", stream)
		}
		return
	}
	cmd, err := ParseCommand(m.Payload())
	if err != nil {
		p.obs.Command(CommandMalformed)
		if logIt, folded := p.cmdFold.note("malformed " + stream); logIt {
			p.log.Warn("ignoring a malformed set command", "stream", stream, "error", err, "repeats", folded)
		}
		return
	}
	p.mu.Lock()
	known := p.known[stream]
	p.mu.Unlock()
	if !known {
		p.obs.Command(CommandUnknownStream)
		if logIt, folded := p.cmdFold.note("unknown " + stream); logIt {
			p.log.Warn("ignoring a set command for an unknown stream", "stream", stream, "repeats", folded)
		}
		return
	}
	p.obs.Command(CommandReceived)
	p.commands.put(stream, cmd.Enabled)
}
