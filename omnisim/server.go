package omnisim

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// maxBodyBytes bounds a request body; a 3 s window is well under 1 MiB.
const maxBodyBytes = 64 << 20

// Server is the simulated model server. It owns no goroutines: all work
// happens on the goroutines net/http gives each request.
type Server struct {
	cfg   Config
	log   hclog.Logger
	truth *truth
	start time.Time
	gpu   *gpu

	faultMu   sync.Mutex
	faults    Faults
	faultRand *rand.Rand

	statsMu sync.Mutex
	stats   Stats

	anonymousIDs atomic.Uint64 // numbers responses to requests without X-Request-Id
}

// New validates cfg, loads the truth sidecar and returns a server. A nil
// logger discards logs.
func New(cfg Config, logger hclog.Logger) (*Server, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("omnisim config: %w", err)
	}
	s := &Server{
		cfg:       cfg,
		log:       logger,
		start:     time.Now(),
		gpu:       newGPU(cfg),
		faults:    cfg.Faults,
		faultRand: rand.New(rand.NewPCG(cfg.Seed, 0x6f6d6e6973696d)),
		stats:     newStats(),
	}
	s.faults.Down = append([]DownWindow(nil), cfg.Faults.Down...)
	if cfg.TruthFile != "" {
		t, err := loadTruth(cfg.TruthFile)
		if err != nil {
			return nil, fmt.Errorf("omnisim config: %w", err)
		}
		s.truth = t
	}
	return s, nil
}

// Config returns the configuration the server runs with.
func (s *Server) Config() Config { return s.cfg }

// Handler routes the endpoints listed in the package doc.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /v1/models", s.unlessDown(http.HandlerFunc(s.handleModels)))
	mux.Handle("POST /v1/chat/completions", s.unlessDown(http.HandlerFunc(s.handleChat)))
	mux.Handle("GET /healthz", s.unlessDown(http.HandlerFunc(s.handleHealth)))
	mux.Handle("GET /health", s.unlessDown(http.HandlerFunc(s.handleHealth)))
	mux.HandleFunc("GET /stats", s.handleStats)
	mux.HandleFunc("GET /admin/faults", s.handleGetFaults)
	mux.HandleFunc("POST /admin/faults", s.handleSetFaults)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found_error", fmt.Sprintf("omnisim has no route %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// unlessDown refuses requests inside a --down window.
func (s *Server) unlessDown(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		win, down := s.CurrentFaults().down(time.Since(s.start))
		if !down {
			next.ServeHTTP(w, r)
			return
		}
		s.count(func(st *Stats) { st.Faults.Down++ })
		s.log.Info("refusing request inside a down window", "window", win.String(), "path", r.URL.Path)
		if win.Close {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
		}
		writeError(w, http.StatusServiceUnavailable, "service_unavailable", "omnisim: down window "+win.String()+" (injected outage)")
	})
}

type modelList struct {
	Object string      `json:"object"`
	Data   []modelCard `json:"data"`
}

type modelCard struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (s *Server) handleModels(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, modelList{Object: "list", Data: []modelCard{{
		ID: s.cfg.Model, Object: "model", Created: s.start.Unix(), OwnedBy: "omnisim",
	}}})
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
}

func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

func (s *Server) handleGetFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.CurrentFaults())
}

func (s *Server) handleSetFaults(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", fmt.Sprintf("read body: %v", err))
		return
	}
	f := s.CurrentFaults()
	if err := json.Unmarshal(body, &f); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}
	if err := s.SetFaults(f); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}
	s.log.Info("faults replaced", "faults", string(body))
	writeJSON(w, http.StatusOK, s.CurrentFaults())
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    int    `json:"code"`
}

func writeError(w http.ResponseWriter, status int, kind, message string) {
	writeJSON(w, status, errorBody{Error: errorDetail{Message: message, Type: kind, Code: status}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"message":"omnisim: cannot encode response","type":"server_error","code":500}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}
