package schedule

import "time"

// Reasons reported to Observer.Dropped: a bounded set, fit for a metric
// label. Every window handed to Submit ends in exactly one WindowDone or one
// Dropped.
const (
	// DropQueueFull: a newer window pushed it out of its stream's full
	// queue (the model is slower than real time).
	DropQueueFull = "queue_full"
	// DropStale: older than the stream's stale_after when its turn came, when
	// its result was ready, or when it was pushed out of the queue.
	DropStale = "stale"
	// DropPaused: its stream was paused when it arrived or while it waited.
	DropPaused = "paused"
	// DropRemoved: its stream was removed (or was never added) while the
	// window waited or ran.
	DropRemoved = "removed"
	// DropShutdown: the scheduler stopped while the window waited, ran past
	// the shutdown timeout, or arrived after Run ended.
	DropShutdown = "shutdown"
	// DropSuperseded: a newer window of its stream started while it waited
	// (the newest window is analysed first), and it had too little time
	// left to finish fresh after that one (two service estimates).
	DropSuperseded = "superseded"
	// DropTooLate: when its turn came it had less time left before
	// stale_after than the model usually takes (the service estimate), so
	// it was dropped before it cost a request.
	DropTooLate = "too_late"
)

// Outcomes reported to Observer.WindowAnalysed: exclusive.
const (
	// OutcomePublished: the window's result was published, whatever its
	// status.
	OutcomePublished = "published"
	// OutcomeDropped: the window was cut or turned stale before a result,
	// or its stream was removed, or shutdown cancelled it; not published.
	OutcomeDropped = "dropped"
)

// Observer receives the scheduler's measurements; the daemon backs it with
// Prometheus metrics. Methods are called synchronously, some with the
// scheduler's lock held, so they must be quick, must not block and must not
// call back into the Scheduler.
type Observer interface {
	// Dropped counts one window that will not be published.
	Dropped(stream, reason string)
	// QueueDepth reports the number of windows waiting in a stream's queue
	// after every change (0 when the stream is paused or removed).
	QueueDepth(stream string, n int)
	// WindowDone reports one published window, with its payload status
	// (ok, silent, mllm_unavailable, invalid_model_output).
	WindowDone(stream, status string)
	// WindowAnalysed reports every window that reached the model (not the
	// silent ones) with its outcome, OutcomePublished or OutcomeDropped,
	// and the time from the start of its analysis to its end.
	WindowAnalysed(stream, outcome string, took time.Duration)
	// AgeAtPublish reports, for every published window, the time from the
	// window's end (wall clock, measured on the monotonic clock) to its
	// hand-over to the publisher.
	AgeAtPublish(stream string, age time.Duration)
}

// NopObserver discards everything; New uses it when Config.Observer is nil.
type NopObserver struct{}

// Dropped implements Observer.
func (NopObserver) Dropped(string, string) {}

// QueueDepth implements Observer.
func (NopObserver) QueueDepth(string, int) {}

// WindowDone implements Observer.
func (NopObserver) WindowDone(string, string) {}

// WindowAnalysed implements Observer.
func (NopObserver) WindowAnalysed(string, string, time.Duration) {}

// AgeAtPublish implements Observer.
func (NopObserver) AgeAtPublish(string, time.Duration) {}
