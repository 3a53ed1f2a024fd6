package view

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"
)

// serveEvents streams events to one page until it goes away, the hub
// drops it (too slow, or garssld stops) or a write fails.
func (v *View) serveEvents(w http.ResponseWriter, r *http.Request) {
	v.poll() // the hello carries the readiness and drops of now
	streams := v.o.Streams()
	c, first, err := v.hub.join(r.Header.Get("Last-Event-ID"), v.hello(streams))
	switch {
	case errors.Is(err, errFull):
		w.Header().Set("Retry-After", "10")
		http.Error(w, fmt.Sprintf("too many viewers: %d pages follow garssld's live view (http.max_viewers); close one or raise http.max_viewers", v.o.MaxViewers),
			http.StatusServiceUnavailable)
		return
	case err != nil:
		w.Header().Set("Retry-After", "5")
		http.Error(w, "garssld is stopping", http.StatusServiceUnavailable)
		return
	}
	slow := false
	defer func() { v.hub.leave(c, slow) }()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(msgs ...[]byte) bool {
		// Each write gets its own deadline, replacing the server's
		// WriteTimeout, which would cut the stream.
		if err := rc.SetWriteDeadline(time.Now().Add(v.writeWait)); err != nil {
			return false
		}
		for _, m := range msgs {
			if _, err := w.Write(m); err != nil {
				// A page that took no data for writeWait is slow; any
				// other error is a page gone.
				slow = errors.Is(err, os.ErrDeadlineExceeded)
				return false
			}
		}
		if err := rc.Flush(); err != nil {
			slow = errors.Is(err, os.ErrDeadlineExceeded)
			return false
		}
		return true
	}
	if !write(fmt.Appendf(nil, "retry: %d\n\n", retryMS)) || !write(first...) {
		return
	}
	hb := time.NewTicker(v.heartbeat)
	defer hb.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.gone:
			// Send what was queued before the drop, then end.
			write(drain(c.ch)...)
			return
		case m := <-c.ch:
			if !write(append([][]byte{m}, drain(c.ch)...)...) {
				return
			}
		case <-hb.C:
			if !write([]byte(": heartbeat\n\n")) {
				return
			}
		}
	}
}

// drain takes what ch holds without waiting.
func drain(ch <-chan []byte) [][]byte {
	var out [][]byte
	for {
		select {
		case m := <-ch:
			out = append(out, m)
		default:
			return out
		}
	}
}
