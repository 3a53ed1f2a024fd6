package view

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/garssl/garssld/health"
	"github.com/garssl/garssld/internal/ssetest"
	"github.com/garssl/garssld/internal/waittest"
	"github.com/garssl/garssld/windowing"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testRun = "01RUNTEST"

// counter is an Observer that counts.
type counter struct {
	mu      sync.Mutex
	viewers int
	dropped map[string]int
}

func (c *counter) Viewers(n int) { c.mu.Lock(); c.viewers = n; c.mu.Unlock() }
func (c *counter) ViewerDropped(r string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dropped == nil {
		c.dropped = map[string]int{}
	}
	c.dropped[r]++
}
func (c *counter) MediaOnHeap() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dropped == nil {
		c.dropped = map[string]int{}
	}
	c.dropped["on_heap"]++
}
func (c *counter) get(r string) int { c.mu.Lock(); defer c.mu.Unlock(); return c.dropped[r] }

// served is a View behind a real HTTP server on 127.0.0.1 with the
// health server's 30 s WriteTimeout (shortened where a test says so).
type served struct {
	*View
	url string
	obs *counter
	srv *httptest.Server
	// writeTimeout is the server's; the health server's 30 s unless edit
	// sets it.
	writeTimeout time.Duration
}

func serve(t *testing.T, o Options, edit func(*served)) *served {
	t.Helper()
	o.RunID = testRun
	if o.Windows == 0 {
		o.Windows = 3
	}
	if o.MaxViewers == 0 {
		o.MaxViewers = 16
	}
	obs := &counter{}
	o.Observer = obs
	if o.Streams == nil {
		o.Streams = func() []string { return []string{"front"} }
	}
	v, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	s := &served{View: v, obs: obs, writeTimeout: 30 * time.Second}
	if edit != nil {
		edit(s)
	}
	s.srv = httptest.NewUnstartedServer(v.Handler())
	s.srv.Config.WriteTimeout = s.writeTimeout
	s.srv.Start()
	s.url = s.srv.URL
	t.Cleanup(func() {
		v.Close()
		s.srv.Close()
	})
	return s
}

func window(stream string, seq uint64) *windowing.Window {
	return &windowing.Window{Stream: stream, Seq: seq, JPEG: []byte("\xff\xd8model"), Frame: []byte("\xff\xd8frame"),
		FrameWidth: 640, FrameHeight: 480, WAV: []byte("RIFFwav")}
}

func payload(stream string, seq uint64) []byte {
	return fmt.Appendf(nil, `{"schema":"garssl.detection/v1","run_id":%q,"stream":%q,"seq":%d,"status":"ok"}`, testRun, stream, seq)
}

// detect publishes seq's window and detection, as the scheduler and the
// daemon do.
func (s *served) detect(stream string, seq uint64) {
	s.Window(window(stream, seq))
	s.Detection(stream, seq, payload(stream, seq))
}

func seqOf(t testing.TB, e ssetest.Event) uint64 {
	t.Helper()
	var d DetectionEvent
	if err := json.Unmarshal([]byte(e.Data), &d); err != nil {
		t.Fatalf("%s: %v", e.Data, err)
	}
	return d.Seq
}

// The detection event carries the published payload verbatim and its
// media URLs; the media answer with their types, and leave the ring (404)
// once view_windows later windows of the stream were published.
func TestDetectionMediaAndEviction(t *testing.T) {
	s := serve(t, Options{Windows: 3}, nil)
	ev := ssetest.Open(t, s.url+PathEvents, nil)
	ev.Wait(t, EventHello, 5*time.Second, nil)
	s.detect("front", 1)
	e := ev.Wait(t, EventDetection, 5*time.Second, nil)
	var d DetectionEvent
	if err := json.Unmarshal([]byte(e.Data), &d); err != nil {
		t.Fatal(err)
	}
	if string(d.Detection) != string(payload("front", 1)) {
		t.Errorf("payload %s, want the published %s", d.Detection, payload("front", 1))
	}
	dir := "/windows/" + testRun + "/front/1/"
	if d.Media == nil || d.Media.Model != dir+"model.jpg" || d.Media.Frame != dir+"frame.jpg" || d.Media.Audio != dir+"audio.wav" || d.Media.FrameWidth != 640 {
		t.Fatalf("media %+v", d.Media)
	}
	get := func(path string) (int, http.Header, string) {
		resp, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	for _, tc := range []struct{ path, ctype, body string }{
		{d.Media.Model, "image/jpeg", "\xff\xd8model"},
		{d.Media.Frame, "image/jpeg", "\xff\xd8frame"},
		{d.Media.Audio, "audio/wav", "RIFFwav"},
	} {
		code, h, body := get(tc.path)
		if code != 200 || h.Get("Content-Type") != tc.ctype || body != tc.body {
			t.Errorf("GET %s: %d %s %q", tc.path, code, h.Get("Content-Type"), body)
		}
		if cc := h.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("GET %s: Cache-Control %q, want immutable", tc.path, cc)
		}
	}
	for seq := uint64(2); seq <= 4; seq++ {
		s.detect("front", seq)
	}
	for _, tc := range []struct {
		path string
		want int
	}{
		{dir + "model.jpg", 404},                            // evicted: 3 later windows
		{"/windows/" + testRun + "/front/2/model.jpg", 200}, // still kept
		{"/windows/" + testRun + "/front/4/audio.wav", 200},
		{"/windows/OTHERRUN/front/4/audio.wav", 404}, // another run's
		{"/windows/" + testRun + "/back/4/audio.wav", 404},
		{"/windows/" + testRun + "/front/4/other.bin", 404},
		{"/windows/" + testRun + "/front/x/model.jpg", 404},
	} {
		if code, _, _ := get(tc.path); code != tc.want {
			t.Errorf("GET %s: %d, want %d", tc.path, code, tc.want)
		}
	}
	// A window whose media left before its detection came has none.
	s.Detection("front", 1, payload("front", 1))
	e = ev.Wait(t, EventDetection, 5*time.Second, func(e ssetest.Event) bool { return seqOf(t, e) == 1 })
	if err := json.Unmarshal([]byte(e.Data), &d); err != nil || d.Media != nil {
		t.Errorf("evicted window's event: %v media %+v, want null", err, d.Media)
	}
}

// A page that resumes with Last-Event-ID gets every event after it, in
// order, and no hello, as long as the history holds them; an id of
// another run, or one older than the history, gets a fresh hello.
func TestLastEventIDResumes(t *testing.T) {
	s := serve(t, Options{}, nil)
	ev := ssetest.Open(t, s.url+PathEvents, nil)
	ev.Wait(t, EventHello, 5*time.Second, nil)
	var ids []string
	for seq := uint64(1); seq <= 10; seq++ {
		s.detect("front", seq)
		e := ev.Wait(t, EventDetection, 5*time.Second, nil)
		ids = append(ids, e.ID)
		if !strings.HasPrefix(e.ID, testRun+"-") {
			t.Fatalf("event id %q does not carry the run id", e.ID)
		}
	}
	resumed := ssetest.Open(t, s.url+PathEvents, http.Header{"Last-Event-Id": {ids[4]}})
	for want := uint64(6); want <= 10; want++ {
		e, ok := resumed.Next(5 * time.Second)
		if !ok || e.Kind != EventDetection || seqOf(t, e) != want {
			t.Fatalf("resumed after seq 5: got %+v (ok %v), want the detection of seq %d", e, ok, want)
		}
	}
	s.detect("front", 11)
	if e, ok := resumed.Next(5 * time.Second); !ok || seqOf(t, e) != 11 {
		t.Fatalf("after the backlog: %+v, want seq 11 live", e)
	}

	for _, id := range []string{"OTHERRUN-3", "garbage", ""} {
		st := ssetest.Open(t, s.url+PathEvents, http.Header{"Last-Event-Id": {id}})
		if e, ok := st.Next(5 * time.Second); !ok || e.Kind != EventHello {
			t.Errorf("Last-Event-ID %q: first event %+v, want hello", id, e)
		}
		st.Close()
	}
	for seq := uint64(12); seq < 12+historySize; seq++ {
		s.Detection("front", seq, payload("front", seq))
	}
	old := ssetest.Open(t, s.url+PathEvents, http.Header{"Last-Event-Id": {ids[0]}})
	e, ok := old.Next(5 * time.Second)
	if !ok || e.Kind != EventHello {
		t.Fatalf("Last-Event-ID older than the history: first event %+v, want hello", e)
	}
	var h Hello
	if err := json.Unmarshal([]byte(e.Data), &h); err != nil {
		t.Fatal(err)
	}
	if h.RunID != testRun || len(h.Recent["front"]) != 3 || h.Windows != 3 {
		t.Errorf("hello: run %q, %d recent, windows %d; want %q, 3, 3", h.RunID, len(h.Recent["front"]), h.Windows, testRun)
	}
	// The hello's id resumes exactly after it.
	s.detect("front", 999)
	if e, ok := old.Next(5 * time.Second); !ok || seqOf(t, e) != 999 {
		t.Fatalf("after hello: %+v", e)
	}
}

// 200 pages follow at once and all get every detection, in order; pages
// that vanish leave nothing behind (goleak in TestMain, and the hub
// empty).
func TestManyAndVanishingViewers(t *testing.T) {
	const n = 200
	s := serve(t, Options{MaxViewers: n}, nil)
	streams := make([]*ssetest.Stream, n)
	for i := range streams {
		streams[i] = ssetest.Open(t, s.url+PathEvents, nil)
	}
	for _, st := range streams {
		st.Wait(t, EventHello, 10*time.Second, nil)
	}
	const detections = 20
	for seq := uint64(1); seq <= detections; seq++ {
		s.detect("front", seq)
	}
	for i, st := range streams {
		for want := uint64(1); want <= detections; want++ {
			if got := seqOf(t, st.Wait(t, EventDetection, 20*time.Second, nil)); got != want {
				t.Fatalf("page %d: seq %d, want %d", i, got, want)
			}
		}
	}
	// Half vanish: their handlers notice and leave.
	for _, st := range streams[:n/2] {
		st.Close()
	}
	waittest.For(t, "the vanished pages gone", 10*time.Second, func() bool { return s.hub.viewers() == n/2 })
	for _, st := range streams[n/2:] {
		st.Close()
	}
	waittest.For(t, "every page gone", 10*time.Second, func() bool { return s.hub.viewers() == 0 })
	if got := s.obs.get("slow"); got != 0 {
		t.Errorf("%d pages dropped as slow, want none", got)
	}
}

// Pages that never read are disconnected once clientBuffer events wait
// for them; detections never wait (every publish returns while they are
// stuck), a page that reads gets every one, and memory stays bounded: the
// history and each page's buffer have fixed sizes.
func TestSlowViewersDropped(t *testing.T) {
	s := serve(t, Options{}, func(s *served) { s.writeWait = time.Second })
	reader := ssetest.Open(t, s.url+PathEvents, nil)
	// A small receive buffer, set before connecting, so that little
	// fills it.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	var slow []net.Conn
	for range 2 {
		c, err := d.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", PathEvents)
		slow = append(slow, c)
	}
	waittest.For(t, "every page connected", 10*time.Second, func() bool { return s.hub.viewers() == 3 })
	reader.Wait(t, EventHello, 5*time.Second, nil)
	// Big enough that the slow pages' socket buffers fill.
	big := strings.Repeat("x", 16<<10)
	const total = 4 * clientBuffer
	published := make(chan struct{})
	go func() {
		defer close(published)
		for seq := uint64(1); seq <= total; seq++ {
			s.Detection("front", seq, fmt.Appendf(nil, `{"seq":%d,"pad":%q}`, seq, big))
		}
	}()
	for want := uint64(1); want <= total; want++ {
		if got := seqOf(t, reader.Wait(t, EventDetection, 20*time.Second, nil)); got != want {
			t.Fatalf("reading page: seq %d, want %d", got, want)
		}
	}
	waittest.For(t, "every detection published", 20*time.Second, func() bool {
		select {
		case <-published:
			return true
		default:
			return false
		}
	})
	waittest.For(t, "the slow pages dropped", 20*time.Second, func() bool { return s.obs.get("slow") == 2 })
	waittest.For(t, "their handlers gone", 20*time.Second, func() bool { return s.hub.viewers() == 1 })
	if len(s.hub.history) > historySize {
		t.Errorf("history holds %d events, bound %d", len(s.hub.history), historySize)
	}
}

// The (max_viewers+1)th page gets 503 with what to do; after Close every
// stream ends and new ones get 503.
func TestMaxViewersAndClose(t *testing.T) {
	s := serve(t, Options{MaxViewers: 2}, nil)
	a := ssetest.Open(t, s.url+PathEvents, nil)
	b := ssetest.Open(t, s.url+PathEvents, nil)
	st, resp, err := ssetest.Try(s.url+PathEvents, nil)
	if err != nil || st != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third viewer: %v %v", err, resp)
	}
	resp2, err := http.Get(s.url + PathEvents)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	if !strings.Contains(string(body), "http.max_viewers") {
		t.Errorf("503 body %q does not say which setting", body)
	}
	if s.obs.get("max_viewers") != 2 {
		t.Errorf("max_viewers refusals counted %d, want 2", s.obs.get("max_viewers"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	cancel()
	<-done
	if !a.Ended(5*time.Second) || !b.Ended(5*time.Second) {
		t.Fatal("event streams outlived Run")
	}
	if st, resp, _ := ssetest.Try(s.url+PathEvents, nil); st != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a page after Close: %v", resp)
	}
}

// The stream outlives the server's WriteTimeout (per-request deadlines),
// and heartbeats keep a quiet one alive.
func TestStreamOutlivesWriteTimeout(t *testing.T) {
	s := serve(t, Options{}, func(s *served) {
		s.heartbeat = 50 * time.Millisecond
		s.writeTimeout = 300 * time.Millisecond
	})
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", PathEvents)
	r := bufio.NewReader(conn)
	start := time.Now()
	heartbeats := 0
	for time.Since(start) < 3*s.writeTimeout || heartbeats < 3 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream cut after %v: %v", time.Since(start), err)
		}
		if strings.HasPrefix(line, ": heartbeat") {
			heartbeats++
		}
	}
	s.detect("front", 7)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream cut: %v", err)
		}
		if strings.HasPrefix(line, "event: detection") {
			return
		}
	}
}

// States are the retained payload verbatim; one reported late (lower
// seq) is dropped, as the publisher drops it.
func TestStateOrder(t *testing.T) {
	s := serve(t, Options{}, nil)
	ev := ssetest.Open(t, s.url+PathEvents, nil)
	ev.Wait(t, EventHello, 5*time.Second, nil)
	s.StreamState("front", 5, []byte(`{"state":"running","error":null}`))
	s.StreamState("front", 4, []byte(`{"state":"connecting","error":null}`))
	s.StreamState("front", 6, []byte(`{"state":"paused","error":null}`))
	for _, want := range []string{"running", "paused"} {
		e := ev.Wait(t, EventState, 5*time.Second, nil)
		var st StateEvent
		if err := json.Unmarshal([]byte(e.Data), &st); err != nil {
			t.Fatal(err)
		}
		if st.Stream != "front" || !strings.Contains(string(st.State), `"`+want+`"`) {
			t.Fatalf("state event %s, want %s", e.Data, want)
		}
	}
	h := ssetest.Open(t, s.url+PathEvents, nil).Wait(t, EventHello, 5*time.Second, nil)
	if !strings.Contains(h.Data, `"states":{"front":{"state":"paused","error":null}}`) {
		t.Errorf("hello %s does not carry the latest state", h.Data)
	}
}

// Readiness and drop counts reach the pages when they change, as /readyz
// and the metrics say them.
func TestReadyAndStatsEvents(t *testing.T) {
	var mqtt atomic.Bool
	var drops atomic.Uint64
	s := serve(t, Options{
		Poll: 10 * time.Millisecond,
		Ready: func() health.Report {
			return health.Decide(health.Readiness{MQTTConnected: mqtt.Load(), Streams: map[string]string{"front": "running"},
				Endpoints: []health.Endpoint{{Name: "http://m/v1", Breaker: "closed"}}})
		},
		Drops: func() map[string]map[string]uint64 {
			return map[string]map[string]uint64{"front": {"stale": drops.Load()}}
		},
	}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	ev := ssetest.Open(t, s.url+PathEvents, nil)
	h := ev.Wait(t, EventHello, 5*time.Second, nil)
	if !strings.Contains(h.Data, `"ready":{"ready":false`) || !strings.Contains(h.Data, `"stats":{"front":{"dropped":{"stale":0}}}`) {
		t.Fatalf("hello %s lacks readiness or drops", h.Data)
	}
	mqtt.Store(true)
	e := ev.Wait(t, EventReady, 5*time.Second, nil)
	var rep health.Report
	if err := json.Unmarshal([]byte(e.Data), &rep); err != nil || !rep.Ready {
		t.Fatalf("ready event %s: %v", e.Data, err)
	}
	drops.Store(3)
	e = ev.Wait(t, EventStats, 5*time.Second, nil)
	if e.Data != `{"front":{"dropped":{"stale":3}}}` {
		t.Errorf("stats event %s", e.Data)
	}
}

// httpServe serves h on 127.0.0.1 until the test ends.
func httpServe(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
