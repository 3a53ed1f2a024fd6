package browsertest

import (
	"bytes"
	"encoding/binary"
	"image/color"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/garssl/garssld/internal/waittest"
)

// pages serves the little pages the browser is tried on.
func pages(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	page := func(path, body string) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte("<!doctype html><html><head><title>t</title><link rel=\"icon\" href=\"data:,\"></head><body style=\"margin:0\">" + body + "</body></html>"))
		})
	}
	// A red square at (100,50)-(300,150), nothing else.
	page("/clean", `<div style="position:absolute;left:100px;top:50px;width:200px;height:100px;background:#ff0000"></div>`)
	page("/noisy", `<script>console.error("broken", 42); console.log("fine"); null.boom;</script>`)
	// .invalid never resolves, and the browser resolves nothing anyway:
	// the requests are recorded before they would go out.
	page("/offsite", `<img src="http://garssld-test.invalid/pixel.png" alt="">
		<script>fetch("http://198.51.100.7/x").catch(() => {}); fetch("/local").catch(() => {});</script>`)
	mux.HandleFunc("/local", func(w http.ResponseWriter, r *http.Request) {})
	// One second of 16 kHz mono silence, played without a click: the
	// live view's audio test relies on the autoplay flag and on headless
	// playing into a fake output in real time.
	page("/audio", `<audio id="a" src="/tone.wav" preload="auto"></audio>`)
	mux.HandleFunc("/tone.wav", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(silentWAV(16000, 16000))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestCleanPageHasNoErrorsNoOffsiteRequestsAndItsPixels(t *testing.T) {
	srv := pages(t)
	b := Start(t)
	b.Navigate(srv.URL + "/clean")
	if errs := b.Errors(); len(errs) > 0 {
		t.Errorf("console errors on a clean page: %v", errs)
	}
	if off := b.Offsite(); len(off) > 0 {
		t.Errorf("offsite requests from a clean page: %v", off)
	}
	if reqs := b.Requests(); len(reqs) == 0 || !strings.HasSuffix(reqs[0].URL, "/clean") || reqs[0].Type != "Document" {
		t.Errorf("requests = %+v, want the document first", reqs)
	}

	img, path := b.Screenshot("clean")
	if got := img.Bounds().Dx(); got != ViewportWidth {
		t.Errorf("screenshot %s is %d px wide, want the viewport's %d", path, got, ViewportWidth)
	}
	red := color.RGBA{255, 0, 0, 255}
	for _, c := range []struct {
		x, y int
		want bool
	}{{101, 51, true}, {200, 100, true}, {298, 148, true}, {99, 100, false}, {200, 152, false}, {50, 20, false}} {
		r, g, bl, _ := img.At(c.x, c.y).RGBA()
		got := color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), 255}
		if (got == red) != c.want {
			t.Errorf("pixel (%d,%d) = %v; red expected: %v", c.x, c.y, got, c.want)
		}
	}
}

func TestConsoleErrorsAndExceptionsAreCaught(t *testing.T) {
	srv := pages(t)
	b := Start(t)
	b.Navigate(srv.URL + "/noisy")
	// The page's script ran before the load event, and the events came
	// before the reply to the navigation.
	var text []string
	for _, m := range b.Errors() {
		text = append(text, m.String())
	}
	all := strings.Join(text, "\n")
	if !strings.Contains(all, "console.error [error]: broken 42") {
		t.Errorf("console.error not caught; errors:\n%s", all)
	}
	if !strings.Contains(all, "exception [error]") || !strings.Contains(all, "null") {
		t.Errorf("uncaught exception not caught; errors:\n%s", all)
	}
	if strings.Contains(all, "fine") {
		t.Errorf("console.log counted as an error:\n%s", all)
	}
	if !strings.Contains(Eval[string](b, `document.title`), "t") {
		t.Error("Eval does not reach the page")
	}
}

func TestOffsiteRequestsAreDetected(t *testing.T) {
	srv := pages(t)
	b := Start(t)
	b.Navigate(srv.URL + "/offsite")
	// fetch() starts from the script, maybe after the load event.
	offsite := func() map[string]bool {
		hosts := map[string]bool{}
		for _, r := range b.Offsite() {
			hosts[r.Host] = true
		}
		return hosts
	}
	waittest.For(t, "the page's two external requests", 30*time.Second, func() bool { return len(offsite()) >= 2 })
	hosts := offsite()
	for _, h := range []string{"garssld-test.invalid", "198.51.100.7"} {
		if !hosts[h] {
			t.Errorf("request to %s not detected; offsite: %v; all: %v", h, b.Offsite(), b.Requests())
		}
	}
	if len(hosts) != 2 {
		t.Errorf("offsite hosts = %v, want only the two external ones (/local stays on the machine)", hosts)
	}
}

func TestNoChromiumProcessOutlivesTheTest(t *testing.T) {
	var profile string
	t.Run("browse", func(t *testing.T) {
		b := Start(t)
		profile = b.profile
		if len(processesUsing(profile)) == 0 {
			t.Fatal("no process found using the profile while the browser runs: the check below would prove nothing")
		}
		b.Navigate("about:blank")
	})
	if left := processesUsing(profile); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestMissingChromiumFailsLoudly(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := chromiumPath()
	if err == nil || !strings.Contains(err.Error(), "make deps") {
		t.Errorf("chromiumPath() with no chromium on PATH = %v, want an error that says how to install it", err)
	}
}

func TestAudioPlaysWithoutAClickToItsEnd(t *testing.T) {
	srv := pages(t)
	b := Start(t)
	b.Navigate(srv.URL + "/audio")
	began := time.Now()
	got := Eval[map[string]any](b, `new Promise((resolve, reject) => {
		const a = document.getElementById("a");
		a.addEventListener("ended", () => resolve({duration: a.duration, ended: a.ended}));
		a.addEventListener("error", () => reject(new Error("media error " + (a.error && a.error.code))));
		a.play().catch(reject);
	})`)
	took := time.Since(began)
	if d, _ := got["duration"].(float64); d < 0.99 || d > 1.01 || got["ended"] != true {
		t.Errorf("audio ended with %v, want a 1 s duration and ended", got)
	}
	// Played, not skipped: a second of sound takes about a second.
	if took < 900*time.Millisecond {
		t.Errorf("1 s of audio ended after %s", took)
	}
	if errs := b.Errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}

// silentWAV is n samples of 16-bit mono PCM silence at rate.
func silentWAV(rate, n int) []byte {
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + 2*n))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1))
	le(uint16(1))
	le(uint32(rate))
	le(uint32(2 * rate))
	le(uint16(2))
	le(uint16(16))
	b.WriteString("data")
	le(uint32(2 * n))
	b.Write(make([]byte, 2*n))
	return b.Bytes()
}
