// Package omnisimtest serves the simulator on 127.0.0.1 for the tests and
// benchmarks of the packages that talk to a model server.
package omnisimtest

import (
	"net/http"
	"net/http/httptest"
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
