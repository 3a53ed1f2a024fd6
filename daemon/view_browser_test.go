package daemon

import (
	"fmt"
	"image"
	"math"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/internal/browsertest"
	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/waittest"
)

// The live view in a real browser (issue 16): headless Chromium
// (internal/browsertest) on the page of a running daemon, with omnisim in
// truth mode and a real mosquitto. The page is read through its DOM and
// its pixels, never through the daemon's internals.

// showBound is the requirement: a detection's label and box are
// on the page within 2 s of its publication on MQTT.
const showBound = 2 * time.Second

// viewWindow is the windows' length: the page plays a window's audio, and
// the test checks that it lasts this long.
const viewWindow = 3 * time.Second

// watchJS installs, once, an observer that notes when each detection
// became visible: the wall-clock time (performance.timeOrigin + now, the
// clock the test's MQTT subscriber reads too) at which a stream's panel
// first showed window seq with a label and a final box, and the time the
// page's own handler stamped on the panel (data-received-at) for it.
// A MutationObserver runs after each task that changed the DOM, so every
// SSE event (one task each) is seen before the next replaces it.
const watchJS = `(() => {
	if (window.__seen) return true;
	const seen = window.__seen = {}, handled = window.__handled = {};
	const wall = () => performance.timeOrigin + performance.now();
	const look = () => {
		for (const s of document.querySelectorAll("section.stream")) {
			const stage = s.querySelector(".stage");
			const key = s.dataset.stream + "/" + (stage ? stage.dataset.seq : "");
			if (s.dataset.seq && s.dataset.receivedAt && !handled[s.dataset.stream + "/" + s.dataset.seq]) {
				handled[s.dataset.stream + "/" + s.dataset.seq] = Number(s.dataset.receivedAt);
			}
			if (!stage || !stage.dataset.seq || seen[key]) continue;
			const label = s.querySelector(".label").textContent.trim();
			const box = stage.querySelector("svg rect.box-final");
			if (label && label !== "–" && box) seen[key] = {at: wall(), label: label};
		}
	};
	new MutationObserver(look).observe(document.getElementById("streams"),
		{subtree: true, childList: true, attributes: true, characterData: true});
	look();
	return true;
})()`

// seenOnPage is what watchJS noted for one window.
type seenOnPage struct {
	At    float64 `json:"at"` // Unix milliseconds
	Label string  `json:"label"`
}

func (s seenOnPage) time() time.Time { return time.UnixMicro(int64(s.At * 1000)) }

// viewRig is a daemon with one looping stream, its broker and subscriber,
// and a browser on its page.
type viewRig struct {
	broker *mosquittotest.Broker
	sub    *mosquittotest.Subscriber
	d      *running
	b      *browsertest.Browser
	url    string
}

func viewSetup(t testing.TB, dir string, b *mosquittotest.Broker) (setup, streamSpec) {
	t.Helper()
	clip := makeClip(t, dir, "clip.mp4", 8)
	s := startSim(t, 0)
	return setup{broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store"), window: viewWindow.String()},
		streamSpec{name: "front", input: clip, extra: []string{"loop = true"}}
}

func startViewRig(t *testing.T) *viewRig {
	t.Helper()
	dir := t.TempDir()
	br := mosquittotest.Start(t, mosquittotest.Config{})
	sub := subscribe(t, br, "view")
	st, stream := viewSetup(t, dir, br)
	d := startDaemon(t, configText(st, stream), nil, testHooks{})
	rig := &viewRig{broker: br, sub: sub, d: d, b: browsertest.Start(t), url: "http://" + d.HTTPAddr().String() + "/"}
	rig.b.Navigate(rig.url)
	browsertest.Eval[bool](rig.b, watchJS)
	waitLive(t, rig.b, d.RunID())
	return rig
}

// waitLive waits until the page follows the events of run runID.
func waitLive(t testing.TB, b *browsertest.Browser, runID string) {
	t.Helper()
	waittest.For(t, "the page to follow the events of run "+runID, 60*time.Second, func() bool {
		return browsertest.Eval[bool](b, fmt.Sprintf(
			`document.getElementById("conn").dataset.state === "open" && document.getElementById("run-id").textContent === %q`, runID))
	})
}

// published returns the detections of run on stream received on MQTT, by
// seq, with their receive times.
func published(t testing.TB, sub *mosquittotest.Subscriber, runID, stream string) (map[uint64]gar.Detection, map[uint64]time.Time) {
	t.Helper()
	ds := map[uint64]gar.Detection{}
	at := map[uint64]time.Time{}
	for _, m := range sub.On(topic(stream, "detections")) {
		one := detections(t, []mosquittotest.Message{m}, stream)
		if len(one) != 1 || one[0].RunID != runID {
			continue
		}
		if _, dup := at[one[0].Seq]; !dup {
			ds[one[0].Seq], at[one[0].Seq] = one[0], m.Received
		}
	}
	return ds, at
}

func pageSeen(b *browsertest.Browser) map[string]seenOnPage {
	return browsertest.Eval[map[string]seenOnPage](b, `window.__seen`)
}

func TestViewInBrowser(t *testing.T) {
	rig := startViewRig(t)
	runID := rig.d.RunID()

	t.Run("loads offline without errors", func(t *testing.T) {
		if errs := rig.b.Errors(); len(errs) > 0 {
			t.Errorf("console errors on load: %v", errs)
		}
		if off := rig.b.Offsite(); len(off) > 0 {
			t.Errorf("requests leaving the machine: %v", off)
		}
		if n := browsertest.Eval[int](rig.b, `document.querySelectorAll('section.stream[data-stream="front"]').length`); n != 1 {
			t.Errorf("%d panels for the stream front, want 1", n)
		}
	})

	// The next detections after the page is live: each must be on the
	// page, label and box, within showBound of its MQTT arrival.
	t.Run("detection shown within 2 s of MQTT", func(t *testing.T) {
		// Windows can be dropped under load (their seqs never reach MQTT):
		// take the next three that do.
		ds, _ := published(t, rig.sub, runID, "front")
		first := uint64(0)
		for seq := range ds {
			first = max(first, seq)
		}
		first++ // the first one published after the page was watching
		const want = 3
		var seqs []uint64
		waittest.For(t, fmt.Sprintf("%d detections from seq %d on MQTT", want, first), 60*time.Second, func() bool {
			ds, _ := published(t, rig.sub, runID, "front")
			seqs = seqs[:0]
			for seq := range ds {
				if seq >= first {
					seqs = append(seqs, seq)
				}
			}
			return len(seqs) >= want
		})
		slices.Sort(seqs)
		seqs = seqs[:want]
		// The page's own clock says when each was shown; waiting past the
		// bound here only lets a late one be reported with its delay.
		last := "front/" + strconv.FormatUint(seqs[want-1], 10)
		waittest.For(t, "the page to show "+last, 30*time.Second, func() bool {
			_, ok := pageSeen(rig.b)[last]
			return ok
		})
		ds, at := published(t, rig.sub, runID, "front")
		seen := pageSeen(rig.b)
		for _, seq := range seqs {
			d := ds[seq]
			s, ok := seen["front/"+strconv.FormatUint(seq, 10)]
			if !ok {
				t.Errorf("seq %d (received on MQTT at %s) never shown with a label and a box; page saw %v", seq, at[seq].Format(time.StampMilli), seen)
				continue
			}
			delay := s.time().Sub(at[seq])
			t.Logf("seq %d: shown %s after MQTT", seq, delay.Round(time.Millisecond))
			if delay > showBound {
				t.Errorf("seq %d shown %s after its MQTT arrival, want ≤ %s", seq, delay, showBound)
			}
			if len(d.Sources) > 0 && s.Label != d.Sources[0].Label {
				t.Errorf("seq %d: page shows label %q, MQTT says %q", seq, s.Label, d.Sources[0].Label)
			}
		}
	})

	t.Run("thumbnail plays its audio", func(t *testing.T) {
		checkThumbnailAudio(t, rig, runID)
	})

	t.Run("box drawn where bbox says", func(t *testing.T) {
		checkBoxOnScreenshot(t, rig, runID)
	})

	t.Run("pause and resume from the page", func(t *testing.T) {
		for _, step := range []struct{ button, state string }{{"pause", "paused"}, {"resume", "running"}} {
			from := len(states(rig.sub.Messages(), "front"))
			rig.b.Do("clicking "+step.button, chromedp.Click(chromedp.CSS(`section.stream[data-stream="front"] button.`+step.button)))
			rig.sub.WaitFor(t, "state "+step.state+" after "+step.button, 30*time.Second, func(m []mosquittotest.Message) bool {
				return seenState(m, "front", step.state, from)
			})
			if got := retainedState(t, rig.broker, "front"); got != step.state {
				t.Errorf("after %s the retained state is %q, want %q", step.button, got, step.state)
			}
			waittest.For(t, "the page to show "+step.state, 30*time.Second, func() bool {
				return browsertest.Eval[string](rig.b, `document.querySelector('section.stream[data-stream="front"]').dataset.state`) == step.state
			})
		}
	})

	// Everything the page did above: media, audio, POSTs, events.
	t.Run("no errors and nothing offsite after all that", func(t *testing.T) {
		if errs := rig.b.Errors(); len(errs) > 0 {
			t.Errorf("console errors: %v", errs)
		}
		if off := rig.b.Offsite(); len(off) > 0 {
			t.Errorf("requests leaving the machine: %v", off)
		}
		kinds := map[string]int{}
		for _, r := range rig.b.Requests() {
			kinds[r.Type]++
		}
		t.Logf("the page's requests by type: %v", kinds)
	})
}

// checkBoxOnScreenshot shows the newest window, takes a screenshot, and
// checks that pixels of the final box's colour lie along the edges of the
// detection's bbox mapped onto frame.jpg's displayed rectangle, and not a
// few pixels inside or outside it.
func checkBoxOnScreenshot(t *testing.T, rig *viewRig, runID string) {
	t.Helper()
	const panel = `document.querySelector('section.stream[data-stream="front"]')`
	type layout struct {
		Seq         string     `json:"seq"`
		Rect        [4]float64 `json:"rect"` // page pixels: left, top, width, height
		Natural     [2]float64 `json:"natural"`
		Stroke      [3]int     `json:"stroke"`
		StrokeWidth float64    `json:"strokeWidth"`
		Src         string     `json:"src"`
	}
	read := func() layout {
		return browsertest.Eval[layout](rig.b, `(() => {
			const p = `+panel+`, stage = p.querySelector(".stage"), img = stage.querySelector("img.frame");
			const r = img.getBoundingClientRect(), box = stage.querySelector("svg rect.box-final");
			const cs = box ? getComputedStyle(box) : null;
			const rgb = cs ? cs.stroke.match(/\d+/g).slice(0, 3).map(Number) : [0, 0, 0];
			return {seq: stage.dataset.seq, rect: [r.left + scrollX, r.top + scrollY, r.width, r.height],
				natural: [img.naturalWidth, img.naturalHeight], stroke: rgb,
				strokeWidth: cs ? parseFloat(cs.strokeWidth) : 0, src: img.currentSrc};
		})()`)
	}
	// A window pinned from the strip stays on the stage while new ones
	// arrive (a screenshot on a loaded machine can take longer than a
	// window); the audio test may have pinned one already.
	if !browsertest.Eval[bool](rig.b, panel+`.dataset.pinned !== undefined`) {
		waitThumb(t, rig.b)
		rig.b.Do("pinning the newest thumbnail", chromedp.Click(chromedp.CSS(`section.stream[data-stream="front"] .strip .thumb:last-child`)))
	}
	// The picture must be loaded and the same window on either side of the
	// screenshot.
	var before, after layout
	var img image.Image
	for try := 0; ; try++ {
		waittest.For(t, "the latest frame.jpg to be loaded", 30*time.Second, func() bool {
			return browsertest.Eval[bool](rig.b, panel+`.querySelector(".stage img.frame").complete && `+panel+`.querySelector(".stage img.frame").naturalWidth > 0`)
		})
		before = read()
		img, _ = rig.b.Screenshot("box")
		after = read()
		if before.Seq == after.Seq && before.Seq != "" {
			break
		}
		if try == 5 {
			t.Fatalf("the shown window kept changing around the screenshot: %s → %s", before.Seq, after.Seq)
		}
	}
	seq, err := strconv.ParseUint(after.Seq, 10, 64)
	if err != nil {
		t.Fatalf("shown seq %q: %v", after.Seq, err)
	}
	ds, _ := published(t, rig.sub, runID, "front")
	d, ok := ds[seq]
	if !ok || len(d.Sources) == 0 {
		t.Fatalf("the page shows seq %d, which MQTT has not delivered with a source (%+v)", seq, d)
	}
	if want := fmt.Sprintf("/windows/%s/front/%d/frame.jpg", runID, seq); !strings.HasSuffix(after.Src, want) {
		t.Errorf("the stage shows %s, want …%s", after.Src, want)
	}
	if int(after.Natural[0]) != d.Frame.Width || int(after.Natural[1]) != d.Frame.Height {
		t.Errorf("frame.jpg is %vx%v, the detection's frame %dx%d (≤ 960 px wide needs no downscaling here)",
			after.Natural[0], after.Natural[1], d.Frame.Width, d.Frame.Height)
	}
	want := after.Stroke
	t.Logf("seq %d: bbox %v on a %dx%d frame shown at %v; box colour rgb%v", seq, d.Sources[0].BBox, d.Frame.Width, d.Frame.Height, after.Rect, want)

	// bbox (frame pixels) → page pixels, by the displayed size.
	bb := d.Sources[0].BBox.Float()
	sx, sy := after.Rect[2]/float64(d.Frame.Width), after.Rect[3]/float64(d.Frame.Height)
	x0, y0 := after.Rect[0]+bb[0]*sx, after.Rect[1]+bb[1]*sy
	x1, y1 := after.Rect[0]+bb[2]*sx, after.Rect[1]+bb[3]*sy

	near := func(x, y float64, r int) bool {
		for dy := -r; dy <= r; dy++ {
			for dx := -r; dx <= r; dx++ {
				if isColour(img, int(math.Round(x))+dx, int(math.Round(y))+dy, want) {
					return true
				}
			}
		}
		return false
	}
	// The share of points along a rectangle's edges that have the box's
	// colour within r pixels.
	along := func(x0, y0, x1, y1 float64, r int) float64 {
		hit, n := 0, 0
		for i := 1; i < 20; i++ { // not the corners, which two edges share
			f := float64(i) / 20
			for _, p := range [][2]float64{{x0 + f*(x1-x0), y0}, {x0 + f*(x1-x0), y1}, {x0, y0 + f*(y1-y0)}, {x1, y0 + f*(y1-y0)}} {
				n++
				if near(p[0], p[1], r) {
					hit++
				}
			}
		}
		return float64(hit) / float64(n)
	}
	// The stroke is a few pixels wide, centred on the edge; allow the
	// rounding of inclusive boxes and of the scale.
	tol := int(math.Ceil(after.StrokeWidth/2)) + 2
	if on := along(x0, y0, x1, y1, tol); on < 0.9 {
		t.Errorf("only %.0f%% of the points along the bbox's edges have the box's colour rgb%v within %d px", on*100, want, tol)
	}
	inset := float64(tol + 6)
	if in := along(x0+inset, y0+inset, x1-inset, y1-inset, 0); in > 0.05 {
		t.Errorf("%.0f%% of the points %v px inside the bbox have the box's colour: the box is not where bbox says", in*100, inset)
	}
	if out := along(x0-inset, y0-inset, x1+inset, y1+inset, 0); out > 0.05 {
		t.Errorf("%.0f%% of the points %v px outside the bbox have the box's colour: the box is not where bbox says", out*100, inset)
	}
}

// isColour reports whether the pixel at (x, y) is want, give or take what
// antialiasing and JPEG do to a solid stroke.
func isColour(img image.Image, x, y int, want [3]int) bool {
	if !(image.Point{x, y}).In(img.Bounds()) {
		return false
	}
	r, g, b, _ := img.At(x, y).RGBA()
	got := [3]int{int(r >> 8), int(g >> 8), int(b >> 8)}
	for i := range 3 {
		if d := got[i] - want[i]; d > 40 || d < -40 {
			return false
		}
	}
	return true
}

// checkThumbnailAudio clicks the newest thumbnail and waits for its audio
// to play to the end.
func checkThumbnailAudio(t *testing.T, rig *viewRig, runID string) {
	t.Helper()
	const thumb = `section.stream[data-stream="front"] .strip .thumb:last-child`
	waitThumb(t, rig.b)
	// Listen before the click, so that the end cannot be missed.
	browsertest.Eval[bool](rig.b, `(() => {
		const a = document.querySelector('section.stream[data-stream="front"] audio');
		window.__audio = new Promise((resolve, reject) => {
			const began = performance.now();
			a.addEventListener("ended", () => resolve({duration: a.duration, ended: a.ended, src: a.currentSrc,
				played: (performance.now() - began) / 1000}), {once: true});
			a.addEventListener("error", () => reject(new Error("audio error " + (a.error && a.error.code))), {once: true});
			setTimeout(() => reject(new Error("no ended event within 30 s; paused=" + a.paused + " time=" + a.currentTime + " src=" + a.currentSrc)), 30000);
		});
		return true;
	})()`)
	seq := browsertest.Eval[string](rig.b, `document.querySelector('`+thumb+`').dataset.seq`)
	rig.b.Do("clicking the newest thumbnail", chromedp.Click(chromedp.CSS(thumb)))
	got := browsertest.Eval[struct {
		Duration float64 `json:"duration"`
		Ended    bool    `json:"ended"`
		Src      string  `json:"src"`
		Played   float64 `json:"played"`
	}](rig.b, `window.__audio`)
	t.Logf("seq %s: audio %s, duration %.3f s, ended after %.2f s", seq, got.Src, got.Duration, got.Played)
	if want := fmt.Sprintf("/windows/%s/front/%s/audio.wav", runID, seq); !strings.HasSuffix(got.Src, want) {
		t.Errorf("played %s, want the clicked window's …%s", got.Src, want)
	}
	if math.Abs(got.Duration-viewWindow.Seconds()) > 0.05 || !got.Ended {
		t.Errorf("audio duration %.3f s, ended %v; want %s and ended", got.Duration, got.Ended, viewWindow)
	}
	// Played through, not jumped to the end: 3 s of sound take about 3 s
	// (a loaded machine can only make it longer).
	if got.Played < viewWindow.Seconds()*0.8 {
		t.Errorf("%s of audio ended after %.2f s", viewWindow, got.Played)
	}
}

// waitThumb waits for a window in the stream's strip.
func waitThumb(t testing.TB, b *browsertest.Browser) {
	t.Helper()
	waittest.For(t, "a window in the strip", 60*time.Second, func() bool {
		return browsertest.Eval[bool](b, `document.querySelector('section.stream[data-stream="front"] .strip .thumb') !== null`)
	})
}

// The daemon restarts on the same port: the page reconnects by itself and
// shows the new run.
func TestViewReconnectsAfterRestart(t *testing.T) {
	dir := t.TempDir()
	br := mosquittotest.Start(t, mosquittotest.Config{})
	st, stream := viewSetup(t, dir, br)
	st.httpListen = freeTCPAddr(t)
	text := configText(st, stream)
	first := startDaemon(t, text, nil, testHooks{})
	b := browsertest.Start(t)
	b.Navigate("http://" + st.httpListen + "/")
	waitLive(t, b, first.RunID())

	if err := first.stop(t); err != nil {
		t.Fatalf("first run: %v", err)
	}
	waittest.For(t, "the page to notice the daemon went away", 30*time.Second, func() bool {
		return browsertest.Eval[string](b, `document.getElementById("conn").dataset.state`) != "open"
	})
	second := startDaemon(t, text, nil, testHooks{})
	if second.RunID() == first.RunID() {
		t.Fatal("the restarted daemon has the same run id")
	}
	waitLive(t, b, second.RunID())
	// And the new run's windows, not the old one's.
	waittest.For(t, "a window of the new run on the stage", 60*time.Second, func() bool {
		return strings.Contains(browsertest.Eval[string](b,
			`(document.querySelector('section.stream[data-stream="front"] .stage img.frame') || {}).currentSrc || ""`),
			"/windows/"+second.RunID()+"/")
	})
	// While the daemon was down, the browser logged the refused
	// connections; the page itself must not have thrown.
	for _, m := range b.Messages() {
		if m.Kind == "exception" {
			t.Errorf("the page threw: %v", m)
		}
	}
	if off := b.Offsite(); len(off) > 0 {
		t.Errorf("requests leaving the machine: %v", off)
	}
}

// freeTCPAddr is a 127.0.0.1 port nobody listens on now, for a daemon
// that must come back on the same one.
func freeTCPAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
