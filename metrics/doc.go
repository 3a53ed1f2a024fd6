// Package metrics holds garssld's Prometheus metrics. Every family lives on
// a registry the caller injects (never the global one), carries the garssl_
// prefix, base units and a bounded label set: stream, stage, endpoint,
// reason, outcome, state, kind, result or decision, never a window id, a
// request id or an error text.
//
// Metrics implements the observers the other packages call: mllm.Observer
// through Model (Request, BreakerState; one per model client, exported from
// UseModel on), the scheduler's and GAR loop's measurements
// (WindowDone, WindowAnalysed, Dropped, QueueDepth, AgeAtPublish,
// StageLatency, Gate), and,
// through MQTT(), the publisher's observer. Counters that capture and
// windowing already keep are not counted twice: a collector reads them at
// scrape time from the StreamSnapshots the daemon returns, as
// node_exporter's collectors read /proc.
//
// Series go with what they describe. ForgetStream deletes a removed
// stream's series and ignores what its last windows report afterwards;
// UseModel deletes the series of endpoints the new model client lacks, and
// a client never put to use (built for a reload that was then refused)
// exports nothing.
//
// All methods are safe for concurrent use and never block, so they may be
// called from request paths and state-change callbacks.
package metrics
