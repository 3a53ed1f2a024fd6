// Package omnisimtest serves the simulator on 127.0.0.1 for the tests and
// benchmarks of the packages that talk to a model server.
package omnisimtest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/garssl/garssld/omnisim"
)

// Serve starts omnisim with cfg behind an HTTP server on a random loopback
// port, which tb's cleanup closes, and returns the simulator with its
// OpenAI-compatible base URL (http://127.0.0.1:port/v1). wrap, when not nil,
// is given omnisim's handler and returns the one to serve, so that a test
// can record requests or fail some of them.
func Serve(tb testing.TB, cfg omnisim.Config, wrap func(next http.Handler) http.Handler) (*omnisim.Server, string) {
	tb.Helper()
	sim, err := omnisim.New(cfg, nil)
	if err != nil {
		tb.Fatalf("omnisim: %v", err)
	}
	h := sim.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return sim, srv.URL + "/v1"
}

// Restartable is omnisim behind a real HTTP server that a test can stop and
// start again on the same port, as a model server restart looks to a
// client: while stopped, connections are refused.
type Restartable struct {
	Sim *omnisim.Server
	URL string // the OpenAI-compatible base URL, http://127.0.0.1:port/v1

	tb   testing.TB
	addr string
	h    http.Handler
	mu   sync.Mutex
	srv  *httptest.Server // nil while stopped
}

// ServeRestartable starts omnisim like Serve, on a port that Start reuses.
func ServeRestartable(tb testing.TB, cfg omnisim.Config, wrap func(next http.Handler) http.Handler) *Restartable {
	tb.Helper()
	sim, err := omnisim.New(cfg, nil)
	if err != nil {
		tb.Fatalf("omnisim: %v", err)
	}
	r := &Restartable{Sim: sim, tb: tb, h: sim.Handler()}
	if wrap != nil {
		r.h = wrap(r.h)
	}
	r.srv = httptest.NewServer(r.h)
	r.addr = r.srv.Listener.Addr().String()
	r.URL = r.srv.URL + "/v1"
	tb.Cleanup(r.Stop)
	return r
}

// Stop closes the listener and every connection, ending requests in flight
// as a crashed server would. Stopping a stopped server does nothing.
func (r *Restartable) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		r.srv.CloseClientConnections()
		r.srv.Close()
		r.srv = nil
	}
}

// Start serves again on the same address.
func (r *Restartable) Start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		return
	}
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.tb.Fatalf("omnisim restart on %s: %v", r.addr, err)
	}
	r.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: r.h}}
	r.srv.Start()
}
