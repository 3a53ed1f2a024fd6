package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is what the HTTP endpoints serve.
type Config struct {
	// Listen is the TCP address, http.listen in the config.
	Listen string
	// Gatherer is the registry /metrics exposes.
	Gatherer prometheus.Gatherer
	// Ready returns the readiness inputs; called on every /readyz request,
	// from the request's goroutine. Nil makes /readyz always say not ready.
	Ready func() Readiness
	// Hung names the registered loops that stopped making progress
	// (Watchdog.Hung); /healthz fails while there are any. Nil: none.
	Hung func() []string
	// Logger gets serving errors; hclog's null logger when nil.
	Logger hclog.Logger
	// Page, when set, serves every path the endpoints above do not: the
	// live view (package view), in place of the text index at /.
	Page http.Handler
	// Auth, when set, guards Page (and, with AuthMetrics, the endpoints
	// above too): it returns a handler that lets only authorised requests
	// through to the one it is given.
	Auth        func(http.Handler) http.Handler
	AuthMetrics bool
	// OnShutdown runs when the server's shutdown begins: long-lived
	// requests (the view's event streams) end there, so that shutdown
	// does not wait for them.
	OnShutdown func()
	// ShutdownTimeout bounds how long Run waits for requests in progress
	// once its context ends; 5 s when zero.
	ShutdownTimeout time.Duration
}

// Paths served.
const (
	PathMetrics = "/metrics"
	PathHealthz = "/healthz"
	PathReadyz  = "/readyz"
)

// Liveness is the JSON body of /healthz.
type Liveness struct {
	Alive bool `json:"alive"`
	// Hung names the loops that stopped making progress.
	Hung []string `json:"hung,omitempty"`
}

// Handler serves /metrics, /healthz and /readyz. /healthz and /readyz
// answer 200 or 503 with a JSON body (Liveness, Report) saying why.
func Handler(cfg Config) http.Handler {
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	gatherer := cfg.Gatherer
	if gatherer == nil {
		gatherer = prometheus.NewRegistry()
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+PathMetrics, promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{
		ErrorLog: log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn}),
		// A collector that fails loses its own series, not the scrape.
		ErrorHandling:     promhttp.ContinueOnError,
		Timeout:           10 * time.Second,
		EnableOpenMetrics: true,
	}))
	mux.HandleFunc("GET "+PathHealthz, func(w http.ResponseWriter, _ *http.Request) {
		l := Liveness{Alive: true}
		if cfg.Hung != nil {
			l.Hung = cfg.Hung()
			l.Alive = len(l.Hung) == 0
		}
		writeJSON(w, l.Alive, l)
	})
	mux.HandleFunc("GET "+PathReadyz, func(w http.ResponseWriter, _ *http.Request) {
		var rep Report
		if cfg.Ready == nil {
			rep = Report{Reasons: []string{"readiness is not reported by this process"}, Warnings: []string{}, Streams: map[string]string{}, Endpoints: []EndpointReport{}}
		} else {
			rep = Decide(cfg.Ready())
		}
		writeJSON(w, rep.Ready, rep)
	})
	page := cfg.Page
	if page == nil {
		page = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintf(w, "garssld\n\n%s  Prometheus metrics\n%s  liveness (JSON)\n%s   readiness (JSON)\n", PathMetrics, PathHealthz, PathReadyz)
		})
	} else if cfg.Auth != nil && !cfg.AuthMetrics {
		page = cfg.Auth(page)
	}
	mux.Handle("/", page)
	// The page takes every other path, so the endpoints answer other
	// methods themselves.
	for _, p := range []string{PathMetrics, PathHealthz, PathReadyz} {
		mux.HandleFunc(p, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		})
	}
	if cfg.Auth != nil && cfg.AuthMetrics {
		return cfg.Auth(mux)
	}
	return mux
}

func writeJSON(w http.ResponseWriter, ok bool, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}

// Server is the HTTP listener of /metrics, /healthz and /readyz.
type Server struct {
	ln      net.Listener
	srv     *http.Server
	log     hclog.Logger
	timeout time.Duration
}

// Listen binds cfg.Listen at once, so that the daemon reports a taken port
// at start and sends READY=1 only with the listener up. Serve with Run.
func Listen(cfg Config) (*Server, error) {
	if cfg.Listen == "" {
		return nil, errors.New("http.listen is empty; give an address such as 127.0.0.1:9464")
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, listenError(cfg.Listen, err)
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	timeout := cfg.ShutdownTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	s := &Server{
		ln:  ln,
		log: log,
		srv: &http.Server{
			Handler:           Handler(cfg),
			ReadHeaderTimeout: 5 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       time.Minute,
			ErrorLog:          log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
		},
		timeout: timeout,
	}
	if cfg.OnShutdown != nil {
		s.srv.RegisterOnShutdown(cfg.OnShutdown)
	}
	return s, nil
}

// listenError explains the common ways binding fails.
func listenError(addr string, err error) error {
	hint := ""
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		hint = "; another process (another garssld, or an exporter) holds the port: stop it or change http.listen"
	case errors.Is(err, syscall.EACCES):
		hint = "; ports below 1024 need root or CAP_NET_BIND_SERVICE: use a higher port in http.listen"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		hint = "; no interface of this machine has that address: fix http.listen"
	}
	return fmt.Errorf("http.listen %s: %w%s", addr, err, hint)
}

// Addr is the address the server listens on (with the real port when
// http.listen gave port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Run serves until ctx ends, then shuts down gracefully: it stops
// accepting, lets requests in progress finish within the shutdown timeout,
// cuts off the rest, and returns nil. It returns an error if serving
// fails. Call it once.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve http on %s: %w", s.ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("serve http on %s: %w", s.ln.Addr(), serr)
	}
	if err != nil {
		// A slow scrape must not turn a clean stop into a failure: cut off
		// what still runs and say so.
		s.log.Warn("http requests still running at shutdown were cut off", "timeout", s.timeout, "error", err)
		s.srv.Close()
	}
	return nil
}

// Close releases the listener of a Server that Run never served.
func (s *Server) Close() error { return s.ln.Close() }
