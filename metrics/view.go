package metrics

import "github.com/prometheus/client_golang/prometheus"

// View implements the live view's Observer (view.Observer). Get it from
// Metrics.View.
type View struct {
	viewers      prometheus.Gauge
	dropped      *prometheus.CounterVec
	authFailures prometheus.Counter
	onHeap       prometheus.Counter
}

// viewDropReasons are the reasons a viewer's event stream ends on the
// daemon's side or is refused.
var viewDropReasons = []string{"slow", "max_viewers", "stopping"}

func newView(b *builder) *View {
	v := &View{
		viewers: b.gauge("view_viewers", "Live view pages connected to /events."),
		dropped: b.counterVec("view_viewers_dropped_total",
			"Live view event streams the daemon ended or refused, by reason: slow (the page did not keep up and was disconnected), max_viewers (refused: http.max_viewers were connected), stopping (garssld stopped).",
			"reason"),
		authFailures: b.counter("view_auth_failures_total",
			"Requests refused for a missing or wrong user name or password (http.auth_file)."),
		onHeap: b.counter("view_media_on_heap_total",
			"Windows whose media the live view keeps on the Go heap because mapping it outside the heap failed (mmap); the view still serves them."),
	}
	for _, r := range viewDropReasons {
		v.dropped.WithLabelValues(r)
	}
	return v
}

// View returns the live view's observer.
func (m *Metrics) View() *View { return m.view }

// Viewers reports how many pages are connected.
func (v *View) Viewers(n int) { v.viewers.Set(float64(n)) }

// ViewerDropped counts one event stream ended or refused for reason.
func (v *View) ViewerDropped(reason string) { v.dropped.WithLabelValues(reason).Inc() }

// MediaOnHeap counts one window's media kept on the heap.
func (v *View) MediaOnHeap() { v.onHeap.Inc() }

// AuthFailed counts one refused login.
func (v *View) AuthFailed() { v.authFailures.Inc() }
