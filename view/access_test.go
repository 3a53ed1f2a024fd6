package view

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/garssl/garssld/health"
	"github.com/garssl/garssld/httpauth"
	"github.com/garssl/garssld/internal/ssetest"
)

// setRecorder records SetEnabled calls.
type setRecorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *setRecorder) set(stream string, enabled bool) error {
	if stream != "front" {
		return ErrUnknownStream
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if enabled {
		r.calls = append(r.calls, "resume")
	} else {
		r.calls = append(r.calls, "pause")
	}
	return nil
}

func (r *setRecorder) got() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.calls, ",")
}

func do(t *testing.T, method, url string, h http.Header) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// Pause and resume only through a POST from the page: the token it
// embeds, and from the same origin. A GET changes nothing.
func TestSetNeedsTokenAndSameOrigin(t *testing.T) {
	rec := &setRecorder{}
	s := serve(t, Options{SetEnabled: rec.set}, nil)
	host := strings.TrimPrefix(s.url, "http://")
	tok := http.Header{CSRFHeader: {s.token}}
	with := func(h http.Header, kv ...string) http.Header {
		out := h.Clone()
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	for _, tc := range []struct {
		name, method, path string
		header             http.Header
		want               int
	}{
		{"no token", "POST", "/streams/front/pause", http.Header{}, 403},
		{"wrong token", "POST", "/streams/front/pause", http.Header{CSRFHeader: {strings.Repeat("0", len(s.token))}}, 403},
		{"cross-site", "POST", "/streams/front/pause", with(tok, "Sec-Fetch-Site", "cross-site"), 403},
		{"foreign origin", "POST", "/streams/front/pause", with(tok, "Origin", "http://evil.example"), 403},
		{"GET", "GET", "/streams/front/pause", tok, 405},
		{"unknown action", "POST", "/streams/front/delete", tok, 404},
		{"unknown stream", "POST", "/streams/back/pause", tok, 404},
		{"same origin", "POST", "/streams/front/pause", with(tok, "Sec-Fetch-Site", "same-origin", "Origin", "http://"+host), 202},
		{"no browser headers (curl with the token)", "POST", "/streams/front/resume", tok, 202},
	} {
		code, _, body := do(t, tc.method, s.url+tc.path, tc.header)
		if code != tc.want {
			t.Errorf("%s: %d %q, want %d", tc.name, code, body, tc.want)
		}
	}
	if got := rec.got(); got != "pause,resume" {
		t.Errorf("SetEnabled calls %q, want only the two accepted: pause,resume", got)
	}
}

// Every answer of the view carries nosniff and the strict CSP; the page
// and its files are checked on every load, media are immutable, events
// never stored.
func TestHeaders(t *testing.T) {
	s := serve(t, Options{}, nil)
	s.detect("front", 1)
	for _, tc := range []struct {
		path, ctype, cache string
	}{
		{"/", "text/html; charset=utf-8", "no-cache"},
		{"/static/view.js", "text/javascript; charset=utf-8", "no-cache"},
		{"/static/view.css", "text/css; charset=utf-8", "no-cache"},
		{"/windows/" + testRun + "/front/1/frame.jpg", "image/jpeg", "private, max-age=31536000, immutable"},
		{"/nothing", "text/plain; charset=utf-8", ""},
	} {
		_, h, body := do(t, "GET", s.url+tc.path, nil)
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Content-Security-Policy") != ContentSecurityPolicy {
			t.Errorf("%s: nosniff %q, CSP %q", tc.path, h.Get("X-Content-Type-Options"), h.Get("Content-Security-Policy"))
		}
		if h.Get("Content-Type") != tc.ctype || h.Get("Cache-Control") != tc.cache {
			t.Errorf("%s: Content-Type %q Cache-Control %q, want %q %q", tc.path, h.Get("Content-Type"), h.Get("Cache-Control"), tc.ctype, tc.cache)
		}
		if tc.path == "/" && (!strings.Contains(body, s.token) || strings.Contains(body, "<script>") || strings.Contains(body, "style=")) {
			t.Errorf("page: token embedded %v, inline script or style present", strings.Contains(body, s.token))
		}
	}
	ev, resp, err := ssetest.Try(s.url+PathEvents, nil)
	if err != nil || ev == nil {
		t.Fatalf("events: %v %v", err, resp)
	}
	defer ev.Close()
	if cc := ev.Resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("events Cache-Control %q", cc)
	}
}

// Behind the health server with http.auth_file: the view wants the
// password, the operational endpoints stay open unless auth_metrics.
func TestAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("right"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users, err := httpauth.Parse(append([]byte("operator:"), hash...))
	if err != nil {
		t.Fatal(err)
	}
	for _, authMetrics := range []bool{false, true} {
		s := serve(t, Options{}, nil)
		s.detect("front", 1)
		srv := httpServe(t, health.Handler(health.Config{Page: s.Handler(), Auth: users.Wrap, AuthMetrics: authMetrics}))
		basic := func(user, pass string) http.Header {
			req, _ := http.NewRequest("GET", "/", nil)
			req.SetBasicAuth(user, pass)
			return req.Header
		}
		for _, tc := range []struct {
			name   string
			header http.Header
			want   int
		}{
			{"missing", nil, 401},
			{"wrong password", basic("operator", "wrong"), 401},
			{"unknown user", basic("intruder", "right"), 401},
			{"right", basic("operator", "right"), 200},
		} {
			ev, resp, err := ssetest.Try(srv+PathEvents, tc.header)
			if err != nil {
				t.Fatal(err)
			}
			if ev != nil {
				ev.Close()
				if tc.want != 200 {
					t.Errorf("%s: events streamed", tc.name)
				}
			} else if resp.StatusCode != tc.want {
				t.Errorf("%s events: %d, want %d", tc.name, resp.StatusCode, tc.want)
			}
			for _, path := range []string{"/", "/static/view.js", "/windows/" + testRun + "/front/1/audio.wav"} {
				code, h, _ := do(t, "GET", srv+path, tc.header)
				if code != tc.want {
					t.Errorf("%s %s: %d, want %d", tc.name, path, code, tc.want)
				}
				if code == 401 && !strings.Contains(h.Get("WWW-Authenticate"), "Basic") {
					t.Errorf("%s %s: no Basic challenge", tc.name, path)
				}
			}
			code, _, _ := do(t, "POST", srv+"/streams/front/pause", tc.header)
			if tc.want == 401 && code != 401 {
				t.Errorf("%s POST: %d, want 401", tc.name, code)
			}
		}
		code, _, _ := do(t, "GET", srv+health.PathMetrics, nil)
		if want := map[bool]int{false: 200, true: 401}[authMetrics]; code != want {
			t.Errorf("auth_metrics %v: /metrics without a password %d, want %d", authMetrics, code, want)
		}
	}
}
