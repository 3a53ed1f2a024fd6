package schedule_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/gar/mllm"
	"github.com/garssl/garssld/omnisim"
	"github.com/garssl/garssld/omnisim/omnisimtest"
	"github.com/garssl/garssld/schedule"
	"github.com/garssl/garssld/windowing"
)

const (
	testNode  = "robot"
	testRunID = "01TESTRUN"
	modelSize = 224
)

// fakeClock is a Clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// observer records what the scheduler reports.
type observer struct {
	mu      sync.Mutex
	dropped map[string]map[string]int // stream → reason → count
	done    map[string]map[string]int // stream → status → count
	ages    map[string][]time.Duration
	depth   map[string]int
	maxDep  map[string]int
	// analysed: stream → outcome → GAR times of windows that reached the model
	analysed map[string]map[string][]time.Duration
}

func newObserver() *observer {
	return &observer{
		dropped: map[string]map[string]int{}, done: map[string]map[string]int{},
		ages: map[string][]time.Duration{}, depth: map[string]int{}, maxDep: map[string]int{},
		analysed: map[string]map[string][]time.Duration{},
	}
}

func bump(m map[string]map[string]int, a, b string) {
	if m[a] == nil {
		m[a] = map[string]int{}
	}
	m[a][b]++
}

func (o *observer) Dropped(stream, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	bump(o.dropped, stream, reason)
}

func (o *observer) QueueDepth(stream string, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.depth[stream] = n
	o.maxDep[stream] = max(o.maxDep[stream], n)
}

func (o *observer) WindowDone(stream, status string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	bump(o.done, stream, status)
}

func (o *observer) WindowAnalysed(stream, outcome string, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.analysed[stream] == nil {
		o.analysed[stream] = map[string][]time.Duration{}
	}
	o.analysed[stream][outcome] = append(o.analysed[stream][outcome], took)
}

func (o *observer) AgeAtPublish(stream string, age time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ages[stream] = append(o.ages[stream], age)
}

func (o *observer) drops(stream, reason string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dropped[stream][reason]
}

func (o *observer) totalDrops(stream string) int { return o.total(o.dropped, stream) }

func (o *observer) totalDone(stream string) int { return o.total(o.done, stream) }

func (o *observer) total(m map[string]map[string]int, stream string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, c := range m[stream] {
		n += c
	}
	return n
}

func (o *observer) queueDepth(stream string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.depth[stream]
}

// published collects what the scheduler hands to the publisher. Every
// detection is marshalled and validated against the payload schema as it
// arrives, as the publisher would send it.
type published struct {
	t      testing.TB
	schema *jsonschema.Schema

	mu   sync.Mutex
	dets []*gar.Detection
	errs []string
}

func newPublished(t testing.TB) *published {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(gar.DetectionSchema))
	if err != nil {
		t.Fatalf("detection schema: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("mem:///detection.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("mem:///detection.json")
	if err != nil {
		t.Fatalf("detection schema: %v", err)
	}
	p := &published{t: t, schema: sch}
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, e := range p.errs {
			t.Error(e)
		}
	})
	return p
}

// publish is the PublishFunc; it must not block, and does not.
func (p *published) publish(stream string, seq uint64, d *gar.Detection) {
	var problem string
	raw, err := json.Marshal(d)
	switch {
	case err != nil:
		problem = fmt.Sprintf("marshal %s/%d: %v", stream, seq, err)
	case d.Stream != stream || d.Seq != seq || d.Node != testNode || d.RunID != testRunID:
		problem = fmt.Sprintf("publish(%s, %d) got payload of %s/%s/%s/%d", stream, seq, d.Node, d.RunID, d.Stream, d.Seq)
	default:
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err == nil {
			err = p.schema.Validate(inst)
		}
		if err != nil {
			problem = fmt.Sprintf("%s/%d does not match the schema: %v\n%s", stream, seq, err, raw)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dets = append(p.dets, d)
	if problem != "" {
		p.errs = append(p.errs, problem)
	}
}

func (p *published) all() []*gar.Detection {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.dets)
}

func (p *published) count(stream string) int {
	n := 0
	for _, d := range p.all() {
		if d.Stream == stream {
			n++
		}
	}
	return n
}

func (p *published) seqs(stream string) []uint64 {
	var out []uint64
	for _, d := range p.all() {
		if d.Stream == stream {
			out = append(out, d.Seq)
		}
	}
	slices.Sort(out)
	return out
}

func (p *published) find(stream string, seq uint64) *gar.Detection {
	for _, d := range p.all() {
		if d.Stream == stream && d.Seq == seq {
			return d
		}
	}
	return nil
}

// testJPEG is a grey picture with a red rectangle; variant recolours one
// pixel so that each window's media hashes differently in omnisim.
func testJPEG(t testing.TB, variant int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, modelSize, modelSize))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.RGBA{128, 128, 128, 255}), image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(64, 80, 160, 176), image.NewUniform(color.RGBA{255, 0, 0, 255}), image.Point{}, draw.Src)
	img.Set(variant%modelSize, modelSize-1-(variant/modelSize)%16, color.RGBA{0, uint8(variant), uint8(variant >> 8), 255})
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// media is one window's picture and sound, built once per test.
type media struct {
	jpeg, loud, silent []byte
	loudDBFS           float64
}

var (
	mediaOnce sync.Once
	testMedia media
)

func sharedMedia(t testing.TB) media {
	mediaOnce.Do(func() {
		samples := make([]int16, 3*windowing.SampleRate)
		for i := range samples {
			samples[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/windowing.SampleRate))
		}
		testMedia = media{
			jpeg:     testJPEG(t, 0),
			loud:     windowing.EncodeWAV(samples),
			silent:   windowing.EncodeWAV(make([]int16, 3*windowing.SampleRate)),
			loudDBFS: windowing.RMSDBFS(samples),
		}
	})
	return testMedia
}

// window builds window seq of stream, ending at end. Silent windows carry
// digital silence; loud ones a 440 Hz tone. Each seq has its own picture
// bytes when distinct is set (omnisim tests), else the shared picture.
func window(t testing.TB, stream string, seq uint64, end time.Time, silent, distinct bool) windowing.Window {
	t.Helper()
	m := sharedMedia(t)
	w := windowing.Window{
		Stream: stream, Seq: seq,
		PTSStart: time.Duration(seq-1) * 3 * time.Second, PTSEnd: time.Duration(seq) * 3 * time.Second,
		FramePTS:  time.Duration(seq-1)*3*time.Second + 1500*time.Millisecond,
		WallStart: end.Add(-3 * time.Second), WallEnd: end,
		JPEG: m.jpeg, Width: 1280, Height: 720, ModelWidth: modelSize, ModelHeight: modelSize,
		WAV: m.loud, Samples: 3 * windowing.SampleRate, RMSDBFS: m.loudDBFS,
	}
	if distinct {
		w.JPEG = testJPEG(t, int(seq)+len(stream)*1000)
	}
	if silent {
		w.WAV, w.RMSDBFS = m.silent, windowing.MinDBFS
	}
	return w
}

// okResult is what a successful GAR loop returns: one source.
func okResult() gar.Result {
	return gar.Result{Status: gar.StatusOK, Sources: []gar.SourceResult{{Label: "tone", BBox: gar.Box{1, 2, 3, 4}}}}
}

// fakeLocalizer holds every window until the test releases it (or the
// window's context ends) and records what it saw.
type fakeLocalizer struct {
	release chan struct{} // one receive lets one window finish
	started chan string   // request ids, as windows start

	mu        sync.Mutex
	calls     []string
	deadlines map[string]time.Duration // request id → time left at start
	inFlight  int
	maxInFl   int
}

func newFakeLocalizer() *fakeLocalizer {
	return &fakeLocalizer{
		release:   make(chan struct{}),
		started:   make(chan string, 1024),
		deadlines: map[string]time.Duration{},
	}
}

func (f *fakeLocalizer) Localize(ctx context.Context, in gar.Input) gar.Result {
	f.mu.Lock()
	f.calls = append(f.calls, in.RequestID)
	if dl, ok := ctx.Deadline(); ok {
		f.deadlines[in.RequestID] = time.Until(dl)
	}
	f.inFlight++
	f.maxInFl = max(f.maxInFl, f.inFlight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	f.started <- in.RequestID
	select {
	case <-f.release:
		return okResult()
	case <-ctx.Done():
		return gar.Result{Status: gar.StatusMLLMUnavailable, Err: ctx.Err()}
	}
}

// next waits for the next window to start and returns its request id.
func (f *fakeLocalizer) next(t testing.TB) string {
	t.Helper()
	select {
	case id := <-f.started:
		return id
	case <-time.After(20 * time.Second):
		t.Fatal("no window started within 20s")
		return ""
	}
}

// finishOne lets one running window return.
func (f *fakeLocalizer) finishOne(t testing.TB) {
	t.Helper()
	select {
	case f.release <- struct{}{}:
	case <-time.After(20 * time.Second):
		t.Fatal("no running window to release within 20s")
	}
}

// noneStarted asserts that no further window has started.
func (f *fakeLocalizer) noneStarted(t testing.TB) {
	t.Helper()
	select {
	case id := <-f.started:
		t.Fatalf("window %s started unexpectedly", id)
	default:
	}
}

func (f *fakeLocalizer) callIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// rig is a scheduler under test with its recorders, running until the test
// ends (or stop is called).
type rig struct {
	s    *schedule.Scheduler
	obs  *observer
	pub  *published
	stop func() error // ends Run and returns its error
}

func startRig(t testing.TB, cfg schedule.Config, loc schedule.Localizer, streams ...schedule.StreamConfig) *rig {
	t.Helper()
	r := &rig{obs: newObserver(), pub: newPublished(t)}
	cfg.Node, cfg.RunID, cfg.Observer = testNode, testRunID, r.obs
	if cfg.WindowDeadline == 0 {
		cfg.WindowDeadline = 30 * time.Second
	}
	if cfg.SilenceDBFS == 0 {
		cfg.SilenceDBFS = -60
	}
	s, err := schedule.New(cfg, loc, r.pub.publish)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r.s = s
	for _, sc := range streams {
		if err := s.Add(sc); err != nil {
			t.Fatalf("Add %s: %v", sc.Name, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	var runErr error
	r.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(60 * time.Second):
				runErr = fmt.Errorf("Run did not return within 60s of cancel")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	// Run is live once it answers a ping.
	pctx, pcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer pcancel()
	if err := s.Ping(pctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	return r
}

func streamCfg(name string, maxQueue int, staleAfter time.Duration) schedule.StreamConfig {
	return schedule.StreamConfig{Name: name, MaxQueue: maxQueue, StaleAfter: staleAfter}
}

// submit hands w over and fails the test on an error.
func (r *rig) submit(t testing.TB, w windowing.Window) {
	t.Helper()
	if err := r.s.Submit(w); err != nil {
		t.Fatalf("Submit %s/%d: %v", w.Stream, w.Seq, err)
	}
}

// accounted reports whether every window submitted so far to stream has
// ended in a publish (reported and handed over) or a counted drop.
func (r *rig) accounted(stream string, submitted int) bool {
	done := r.obs.totalDone(stream)
	return done == r.pub.count(stream) && done+r.obs.totalDrops(stream) == submitted
}

// sim is omnisim on a loopback port with a recorder of chat request ids: as
// they arrive, and as they are answered with 200.
type sim struct {
	*omnisim.Server
	url string // base URL ending in /v1

	mu       sync.Mutex
	ids      []string
	answered []string
}

// answerRecorder tells whether the handler answered at all (omnisim writes
// nothing for a client that went away) and with what status.
type answerRecorder struct {
	http.ResponseWriter
	status int
}

func (a *answerRecorder) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *answerRecorder) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	return a.ResponseWriter.Write(b)
}

func startSim(t testing.TB, timeScale float64) *sim {
	t.Helper()
	cfg := omnisim.DefaultConfig()
	cfg.TimeScale = timeScale
	s := &sim{}
	s.Server, s.url = omnisimtest.Serve(t, cfg, func(next http.Handler) http.Handler { return s.recording(next) })
	return s
}

// recording records the ids of chat requests, and of those omnisim
// answered, on their way to next.
func (s *sim) recording(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			next.ServeHTTP(w, r)
			return
		}
		id := r.Header.Get("X-Request-Id")
		s.mu.Lock()
		s.ids = append(s.ids, id)
		s.mu.Unlock()
		rec := &answerRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == http.StatusOK {
			s.mu.Lock()
			s.answered = append(s.answered, id)
			s.mu.Unlock()
		}
	})
}

func (s *sim) requestIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids)
}

// requestsFor counts chat requests that arrived for window
// <node>/<stream>/<seq>.
func (s *sim) requestsFor(stream string, seq uint64) int {
	return countPrefix(s.requestIDs(), fmt.Sprintf("%s/%s/%d/", testNode, stream, seq))
}

// answeredFor counts the window's requests of stage answered with 200.
func (s *sim) answeredFor(stream string, seq uint64, stage string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return countPrefix(s.answered, fmt.Sprintf("%s/%s/%d/%s", testNode, stream, seq, stage))
}

func countPrefix(ids []string, prefix string) int {
	n := 0
	for _, id := range ids {
		if strings.HasPrefix(id, prefix) {
			n++
		}
	}
	return n
}

// newGAR builds the real model client and GAR loop against s, with
// maxInFlight request slots.
func newGAR(t testing.TB, s *sim, maxInFlight int) (*gar.Localizer, *mllm.Client) {
	t.Helper()
	client, err := mllm.New(mllm.Config{
		Endpoints: []string{s.url}, Model: omnisim.DefaultModel,
		Timeout: 20 * time.Second, MaxInFlight: maxInFlight, StructuredOutput: true,
	}, nil, nil)
	if err != nil {
		t.Fatalf("mllm.New: %v", err)
	}
	t.Cleanup(client.CloseIdleConnections)
	loc, err := gar.NewLocalizer(gar.Config{
		TauAV: gar.DefaultTauAV, TauAudio: gar.DefaultTauAudio,
		SupportsN: true, Model: omnisim.DefaultModel,
	}, client)
	if err != nil {
		t.Fatalf("NewLocalizer: %v", err)
	}
	return loc, client
}

// feed submits n windows of stream, one every interval, each ending now:
// a live source. It returns when all are submitted.
func feed(t testing.TB, r *rig, stream string, n int, interval time.Duration) {
	t.Helper()
	feedWhile(t, r, stream, interval, func(submitted int) bool { return submitted < n })
}

// feedWhile submits windows of stream, one every interval, while more(the
// number submitted so far) holds, and returns that number.
func feedWhile(t testing.TB, r *rig, stream string, interval time.Duration, more func(submitted int) bool) int {
	t.Helper()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	seq := uint64(0)
	for more(int(seq)) {
		if seq > 0 {
			<-tick.C
		}
		seq++
		if err := r.s.Submit(window(t, stream, seq, time.Now(), false, true)); err != nil {
			t.Errorf("Submit %s/%d: %v", stream, seq, err)
			break
		}
	}
	return int(seq)
}

// exampleWindow is a loud window that ended just now, without media.
func exampleWindow(stream string, seq uint64) windowing.Window {
	end := time.Now()
	return windowing.Window{
		Stream: stream, Seq: seq, WallStart: end.Add(-3 * time.Second), WallEnd: end,
		Width: 1280, Height: 720, ModelWidth: modelSize, ModelHeight: modelSize, RMSDBFS: -20,
	}
}
