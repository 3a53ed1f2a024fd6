package view

import (
	"bytes"
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"time"
)

// Media file names under a window's directory.
const (
	fileModel = "model.jpg"
	fileFrame = "frame.jpg"
	fileAudio = "audio.wav"
)

// Paths served by Handler.
const (
	PathEvents = "/events"
	// CSRFHeader carries the page's token on every POST.
	CSRFHeader = "X-CSRF-Token"
)

// Timing of an event stream.
const (
	// heartbeatEvery sends a comment on a quiet stream, so proxies and
	// the browser see it alive and a vanished page is noticed.
	heartbeatEvery = 15 * time.Second
	// writeWait bounds one write to a page; the server's WriteTimeout
	// (which would cut every stream) is replaced by it.
	writeWait = 10 * time.Second
	// retryMS is the reconnect delay the browser is told.
	retryMS = 2000
)

// ContentSecurityPolicy allows the page only its own script, style,
// pictures, sound and event stream: nothing inline, nothing from outside.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

//go:embed static
var static embed.FS

var page = template.Must(template.ParseFS(static, "static/index.html"))

// Handler serves the page at /, its script and style under /static/, the
// events at /events, the media under /windows/ and the pause and resume
// POSTs under /streams/. Access control is the caller's.
func (v *View) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", v.servePage)
	sub, _ := fs.Sub(static, "static") // the directory is embedded above
	files := http.FileServerFS(sub)
	mux.Handle("GET /static/", http.StripPrefix("/static", noCache(files)))
	mux.HandleFunc("GET "+PathEvents, v.serveEvents)
	mux.HandleFunc("GET /windows/{run}/{stream}/{seq}/{file}", v.serveMedia)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "cross-origin request refused: pause and resume only from garssld's own page", http.StatusForbidden)
	}))
	mux.Handle("POST /streams/{stream}/{action}", cop.Handler(http.HandlerFunc(v.serveSet)))
	return securityHeaders(mux)
}

// securityHeaders sets what every answer of the view carries.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Content-Security-Policy", ContentSecurityPolicy)
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

// noCache makes the browser check the script and style on every load, so
// a new version's page never runs an old script.
func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

type pageData struct {
	RunID, Version, Token string
}

func (v *View) servePage(w http.ResponseWriter, _ *http.Request) {
	var b bytes.Buffer
	if err := page.Execute(&b, pageData{RunID: v.o.RunID, Version: v.o.Version, Token: v.token}); err != nil {
		v.log.Error("cannot render the live view page", "error", err)
		http.Error(w, "cannot render the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b.Bytes())
}

func (v *View) serveMedia(w http.ResponseWriter, r *http.Request) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || r.PathValue("run") != v.o.RunID {
		http.Error(w, "no such window in this run of garssld", http.StatusNotFound)
		return
	}
	m := v.ring.get(r.PathValue("stream"), seq)
	if m == nil {
		http.Error(w, "window no longer kept: the view keeps the last http.view_windows windows of each stream", http.StatusNotFound)
		return
	}
	defer m.Release()
	var body []byte
	var ctype string
	switch r.PathValue("file") {
	case fileModel:
		body, ctype = m.Model, "image/jpeg"
	case fileFrame:
		body, ctype = m.Frame, "image/jpeg"
	case fileAudio:
		body, ctype = m.WAV, "audio/wav"
	}
	if body == nil {
		http.Error(w, "no such file for this window", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	// A window's files never change: the run id and seq name them once.
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	h.Set("ETag", `"`+v.o.RunID+"-"+r.PathValue("seq")+`"`)
	// ServeContent answers the Range requests <audio> makes.
	http.ServeContent(w, r, "", m.Added, bytes.NewReader(body))
}

func (v *View) serveSet(w http.ResponseWriter, r *http.Request) {
	var enabled bool
	switch r.PathValue("action") {
	case "pause":
	case "resume":
		enabled = true
	default:
		http.Error(w, "unknown action: use pause or resume", http.StatusNotFound)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get(CSRFHeader)), []byte(v.token)) != 1 {
		http.Error(w, "missing or wrong "+CSRFHeader+": pause and resume only from garssld's own page", http.StatusForbidden)
		return
	}
	stream := r.PathValue("stream")
	if err := v.o.SetEnabled(stream, enabled); err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, ErrUnknownStream) {
			code = http.StatusNotFound
		}
		http.Error(w, err.Error(), code)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusAccepted)
}
