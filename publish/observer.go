package publish

// Kinds of message reported to Observer.Published.
const (
	KindDetection = "detection"
	KindState     = "state"
	KindStatus    = "status"
)

// Reasons reported to Observer.Dropped.
const (
	// DropMaxPending: max_pending detections were outstanding; the oldest
	// one still held by the publisher (or, when paho holds all of them, the
	// new one) was dropped.
	DropMaxPending = "max_pending"
	// DropStoreError: the file store could not write while the broker was
	// unreachable, so the detection could have been kept only in memory.
	DropStoreError = "store_error"
	// DropPublishError: paho completed the detection's token with an
	// error, and it is not published again (paho may still hold it); or
	// the detection has QoS 0 and the broker is unreachable, where paho
	// keeps nothing.
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
	// Published reports a message whose paho token completed without
	// error: handed to the library, which for a resent message is before
	// the broker's PUBACK. kind is KindDetection, KindState or KindStatus.
	Published(kind string)
	// Dropped reports one detection that will not be published, with one
	// of the Drop… reasons.
	Dropped(reason string)
	// Pending reports the detections queued or handed to paho and not yet
	// completed, after every change.
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
