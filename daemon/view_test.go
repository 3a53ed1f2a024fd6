package daemon

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/ssetest"
	"github.com/garssl/garssld/internal/waittest"
	"github.com/garssl/garssld/view"
)

// The live view against a running daemon: the page, a detection event
// carrying the published payload and its media URLs, the media
// themselves, and pause then resume from the page's POST, which the
// stream's retained state on MQTT follows.
func TestViewServesDetectionsMediaAndPause(t *testing.T) {
	r, b := commandDaemon(t)
	base := "http://" + r.HTTPAddr().String()

	code, page := r.get(t, "/")
	if code != http.StatusOK || !bytes.Contains(page, []byte(`id="streams"`)) {
		t.Fatalf("GET /: %d\n%.300s", code, page)
	}
	m := regexp.MustCompile(`name="csrf-token" content="([0-9a-f]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", page)
	}
	token := string(m[1])

	events := ssetest.Open(t, base+view.PathEvents, nil)
	hello := events.Wait(t, view.EventHello, 10*time.Second, nil)
	var h view.Hello
	if err := json.Unmarshal([]byte(hello.Data), &h); err != nil {
		t.Fatal(err)
	}
	if h.RunID != r.RunID() || len(h.Streams) != 1 || h.Streams[0] != "front" {
		t.Fatalf("hello: run %q streams %v; want run %q, [front]", h.RunID, h.Streams, r.RunID())
	}
	var det view.DetectionEvent
	events.Wait(t, view.EventDetection, 30*time.Second, func(e ssetest.Event) bool {
		if err := json.Unmarshal([]byte(e.Data), &det); err != nil {
			t.Fatal(err)
		}
		return det.Media != nil && det.Media.Frame != ""
	})
	var payload struct {
		RunID  string `json:"run_id"`
		Stream string `json:"stream"`
		Seq    uint64 `json:"seq"`
	}
	if err := json.Unmarshal(det.Detection, &payload); err != nil || payload.RunID != r.RunID() || payload.Seq != det.Seq || payload.Stream != "front" {
		t.Fatalf("detection event's payload: %v %+v", err, payload)
	}
	for _, tc := range []struct {
		url, ctype, magic string
	}{
		{det.Media.Model, "image/jpeg", "\xff\xd8"},
		{det.Media.Frame, "image/jpeg", "\xff\xd8"},
		{det.Media.Audio, "audio/wav", "RIFF"},
	} {
		resp, err := http.Get(base + tc.url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tc.ctype || !strings.HasPrefix(string(body), tc.magic) {
			t.Errorf("GET %s: %d %s, %d bytes", tc.url, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
	}
	if det.Media.FrameWidth != clipW || det.Media.FrameHeight != clipH {
		t.Errorf("frame %dx%d, want the clip's %dx%d", det.Media.FrameWidth, det.Media.FrameHeight, clipW, clipH)
	}

	set := func(action string) {
		req, _ := http.NewRequest(http.MethodPost, base+"/streams/front/"+action, nil)
		req.Header.Set(view.CSRFHeader, token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST %s: %s", action, resp.Status)
		}
	}
	stateIs := func(want string) func(ssetest.Event) bool {
		return func(e ssetest.Event) bool {
			var s struct {
				Stream string
				State  struct{ State string }
			}
			_ = json.Unmarshal([]byte(e.Data), &s)
			return s.Stream == "front" && s.State.State == want
		}
	}
	set("pause")
	events.Wait(t, view.EventState, 30*time.Second, stateIs("paused"))
	waittest.For(t, "the retained state to say paused", 30*time.Second, func() bool { return retainedState(t, b, "front") == "paused" })
	set("resume")
	events.Wait(t, view.EventState, 30*time.Second, stateIs("running"))
	waittest.For(t, "the retained state to say running", 30*time.Second, func() bool { return retainedState(t, b, "front") == "running" })

	// The stop ends the event stream rather than waiting for it.
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if !events.Ended(10 * time.Second) {
		t.Error("the event stream outlived the daemon")
	}
}

// A reload that moves http.listen: the endpoints, the page and the event
// stream answer on the new address, the old one is closed, and a page
// following the old listener is ended rather than holding the reload up.
func TestReloadMovesTheHTTPListener(t *testing.T) {
	dir := t.TempDir()
	clip := makeClip(t, dir, "clip.mp4", 4)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	s := startSim(t, 0)
	base := setup{broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store")}
	front := streamSpec{name: "front", input: clip, extra: []string{"loop = true"}}
	r := startDaemon(t, configText(base, front), nil, testHooks{})
	old := r.HTTPAddr().String()
	events := ssetest.Open(t, "http://"+old+view.PathEvents, nil)
	events.Wait(t, view.EventHello, 10*time.Second, nil)

	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	moved := free.Addr().String()
	free.Close()
	next := base
	next.httpListen = moved
	r.reload(t, configText(next, front))

	if got := r.HTTPAddr().String(); got != moved {
		t.Fatalf("after the reload the daemon listens on %s, want %s", got, moved)
	}
	if !events.Ended(10 * time.Second) {
		t.Error("the event stream on the old listener outlived the move")
	}
	if resp, err := http.Get("http://" + old + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("the old address %s still answers: %s", old, resp.Status)
	}
	for _, path := range []string{"/healthz", "/"} {
		if code, body := r.get(t, path); code != http.StatusOK {
			t.Errorf("GET %s on the new address: %d %.200s", path, code, body)
		}
	}
	again := ssetest.Open(t, "http://"+moved+view.PathEvents, nil)
	again.Wait(t, view.EventHello, 10*time.Second, nil)
	again.Wait(t, view.EventDetection, 30*time.Second, nil)
	if n := len(r.logs.lines("http endpoints moved")); n != 1 {
		t.Errorf("%d 'http endpoints moved' log lines, want 1", n)
	}
}
