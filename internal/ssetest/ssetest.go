// Package ssetest reads server-sent events in tests.
package ssetest

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Event is one server-sent event.
type Event struct {
	ID, Kind, Data string
}

// Stream is an open event stream; its events arrive on a channel read by
// Next. Close it (Open registers Close as a cleanup).
type Stream struct {
	Resp   *http.Response
	events chan Event
	done   chan struct{}
	cancel context.CancelFunc
}

// Open GETs url with the given headers and returns the stream; the test
// fails unless the answer is 200 text/event-stream.
func Open(t testing.TB, url string, header http.Header) *Stream {
	t.Helper()
	s, resp, err := Try(url, header)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if s == nil {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	t.Cleanup(s.Close)
	return s
}

// Try is Open without a test: it returns a nil stream and the response
// (body closed) when the answer is not an event stream.
func Try(url string, header http.Header) (*Stream, *http.Response, error) {
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		cancel()
		return nil, resp, nil
	}
	s := &Stream{Resp: resp, events: make(chan Event, 1024), done: make(chan struct{}), cancel: cancel}
	go s.read()
	return s, resp, nil
}

func (s *Stream) read() {
	defer close(s.done)
	defer close(s.events)
	sc := bufio.NewScanner(s.Resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var e Event
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if e.Kind != "" || e.Data != "" {
				s.events <- e
			}
			e = Event{}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			e.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			e.Kind = line[7:]
		case strings.HasPrefix(line, "data: "):
			e.Data += line[6:]
		}
	}
}

// Next returns the next event, or false when the stream ended or nothing
// came within d.
func (s *Stream) Next(d time.Duration) (Event, bool) {
	select {
	case e, ok := <-s.events:
		return e, ok
	case <-time.After(d):
		return Event{}, false
	}
}

// Wait returns the first event of kind for which match (nil: any) is
// true, failing the test after d.
func (s *Stream) Wait(t testing.TB, kind string, d time.Duration, match func(Event) bool) Event {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		e, ok := s.Next(time.Until(deadline))
		if !ok {
			t.Fatalf("no %s event within %v (stream ended or quiet)", kind, d)
		}
		if e.Kind == kind && (match == nil || match(e)) {
			return e
		}
	}
}

// Ended reports whether the server ended the stream, waiting up to d.
func (s *Stream) Ended(d time.Duration) bool {
	deadline := time.After(d)
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

// Close ends the stream and waits for its reader.
func (s *Stream) Close() {
	s.cancel()
	s.Resp.Body.Close()
	for range s.events {
	}
	<-s.done
}
