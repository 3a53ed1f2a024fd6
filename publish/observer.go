package publish

// Kinds of message reported to Observer.Published.
const (
	KindDetection = "detection"
	KindState     = "state"
	KindStatus    = "status"
	// KindEvent is a track event (<stream>/events); KindTracks a stream's
	// retained track list (<stream>/tracks).
	KindEvent  = "event"
	KindTracks = "tracks"
)

// Reasons reported to Observer.Dropped.
const (
	// DropMaxPending: max_pending detections were outstanding (queued or
	// stored unacknowledged); the oldest was removed from the file store
	// (or from the queue, when the store held none).
	DropMaxPending = "max_pending"
	// DropExpired: a stored detection was older than max_age when paho
	// was about to resend it after a (re)connect; it was removed unsent.
	DropExpired = "expired"
	// DropStoreError: the file store could not write while the broker was
	// unreachable, so the detection could have been kept only in memory.
	DropStoreError = "store_error"
	// DropPublishError: paho refused the detection before storing it (no
	// connection, no free message id), or at QoS 0 its token failed or
	// the broker was unreachable, where paho keeps nothing.
	DropPublishError = "publish_error"
	// DropShutdown: the detection arrived after Run began to stop, or
	// could not be handed to paho before the flush deadline.
	DropShutdown = "shutdown"
	// DropTooLarge: the detection's payload exceeds MaxMessageBytes, so it
	// was not sent (a broker with a smaller message size limit would drop
	// it without telling).
	DropTooLarge = "too_large"
)

// Results reported to Observer.Command for messages on …/<stream>/set.
const (
	// CommandReceived: a valid command for a known stream, handed on; the
	// latest per stream is applied, at most once a second.
	CommandReceived        = "received"
	CommandIgnoredRetained = "ignored_retained"
	CommandMalformed       = "malformed"
	CommandUnknownStream   = "unknown_stream"
)

// Observer receives the publisher's measurements; the daemon backs it with
// Prometheus metrics. Methods are called synchronously from the
// publisher's goroutines and paho's callbacks, so they must be quick, must
// not block and must not call back into the Publisher.
type Observer interface {
	// Published reports a message delivered to the broker: a detection
	// at QoS 1 or 2 when paho deletes it from its store on the broker's
	// acknowledgement, one at QoS 0 when its token completes (written to
	// the network), a state or status message when its token completes.
	// kind is KindDetection, KindState or KindStatus.
	Published(kind string)
	// Dropped reports one detection that will not be published, with one
	// of the Drop… reasons. A stored detection is dropped only when it
	// leaves the store unacknowledged.
	Dropped(reason string)
	// Pending reports the detections queued, being handed to paho, or in
	// its store without an acknowledgement, after every change; it is
	// called under the Publisher's lock, so the last value is exact.
	Pending(n int)
	// Connected reports the connection to the broker going up or down.
	Connected(up bool)
	// Command reports one message received on a set topic, with one of the
	// Command… results.
	Command(result string)
	// Unconfirmed reports one detection that did not come back on the
	// node's own subscription within ConfirmWithin.
	Unconfirmed()
}

// NopObserver discards everything; New uses it when Options.Observer is
// nil.
type NopObserver struct{}

// Published implements Observer.
func (NopObserver) Published(string) {}

// Dropped implements Observer.
func (NopObserver) Dropped(string) {}

// Pending implements Observer.
func (NopObserver) Pending(int) {}

// Connected implements Observer.
func (NopObserver) Connected(bool) {}

// Command implements Observer.
func (NopObserver) Command(string) {}

// Unconfirmed implements Observer.
func (NopObserver) Unconfirmed() {}
