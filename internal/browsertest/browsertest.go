// Package browsertest runs a real headless Chromium (Debian's chromium
// package) for tests, driven through the DevTools protocol with chromedp.
// It starts one browser with one tab per Start, keeps it offline and
// deterministic, records what a page writes to its console and which
// requests the page itself sends, saves screenshots under the test's
// artifact directory, and stops the browser (and checks that no chromium
// process is left) through t.Cleanup.
//
// chromium is a declared test dependency (make deps installs it, as it
// installs mosquitto), so its absence fails the test instead of skipping.
//
// Screenshots go to t.ArtifactDir(): a temporary directory removed after
// the test, unless the tests run with -artifacts, which keeps them under
// -outputdir (the package directory by default; it must exist):
//
//	mkdir -p /tmp/shots && go test -artifacts -outputdir /tmp/shots -run TestView ./daemon/
package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/garssl/garssld/internal/syncbuf"
)

// Viewport is the window size every browser starts with, so that layouts
// and screenshots do not depend on the machine.
const (
	ViewportWidth  = 1280
	ViewportHeight = 900
)

// ActionTimeout bounds one call of Run, Eval and the other helpers. It is
// generous because the tests run under the race detector on a loaded
// 2-core machine; a helper returns as soon as its action does.
const ActionTimeout = 60 * time.Second

// debianBinary is the real browser of Debian's chromium package. Its
// /usr/bin/chromium is a shell wrapper that sources /etc/chromium.d,
// which turns on remote extensions and GPU rasterisation; the tests want
// only the flags below.
const debianBinary = "/usr/lib/chromium/chromium"

// flags keep the browser headless, offline and deterministic. Each one
// removes a source of requests the page did not make, of timing that
// depends on focus or load, or of pixels that depend on the machine.
var flags = []chromedp.ExecAllocatorOption{
	chromedp.Flag("headless", "new"),
	chromedp.Flag("no-sandbox", true), // the tests run as root
	chromedp.Flag("disable-gpu", true),
	chromedp.Flag("disable-dev-shm-usage", true), // /dev/shm is small in containers
	chromedp.Flag("no-first-run", true),
	chromedp.Flag("no-default-browser-check", true),

	// Offline: no background, component, sync, metrics or safe-browsing
	// traffic, and no host name resolves, so nothing can leave the
	// machine even by mistake (requests to 127.0.0.1 and localhost still
	// work; the page's own requests are recorded before resolution).
	chromedp.Flag("disable-background-networking", true),
	chromedp.Flag("disable-component-update", true),
	chromedp.Flag("disable-sync", true),
	chromedp.Flag("disable-default-apps", true),
	chromedp.Flag("disable-extensions", true),
	chromedp.Flag("disable-domain-reliability", true),
	chromedp.Flag("disable-client-side-phishing-detection", true),
	chromedp.Flag("disable-breakpad", true),
	chromedp.Flag("no-pings", true),
	chromedp.Flag("metrics-recording-only", true),
	chromedp.Flag("safebrowsing-disable-auto-update", true),
	chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,"+
		"AutofillServerCommunication,CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions"),
	chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"),
	chromedp.Flag("password-store", "basic"),
	chromedp.Flag("use-mock-keychain", true),

	// Deterministic: timers and rendering run at full speed even though
	// no window has focus, pixels are sRGB at scale 1, audio may start
	// without a click (the tests check that it plays to its end; headless
	// has no sound card and plays into a fake output).
	chromedp.Flag("disable-background-timer-throttling", true),
	chromedp.Flag("disable-backgrounding-occluded-windows", true),
	chromedp.Flag("disable-renderer-backgrounding", true),
	chromedp.Flag("disable-hang-monitor", true),
	chromedp.Flag("disable-ipc-flooding-protection", true),
	chromedp.Flag("force-color-profile", "srgb"),
	chromedp.Flag("force-device-scale-factor", "1"),
	chromedp.Flag("hide-scrollbars", true),
	chromedp.Flag("mute-audio", true),
	chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	chromedp.WindowSize(ViewportWidth, ViewportHeight),
}

// Message is one entry of the page's console: a console API call, an
// uncaught exception, or an entry of the browser's log about the page
// (a failed load, a Content-Security-Policy violation).
type Message struct {
	Kind string // "console.<type>", "exception" or "log.<source>"
	// Level is "error" for console.error, exceptions and error log
	// entries; otherwise the console type or log level.
	Level string
	Text  string
	URL   string
}

func (m Message) String() string {
	s := m.Kind + " [" + m.Level + "]: " + m.Text
	if m.URL != "" {
		s += " (" + m.URL + ")"
	}
	return s
}

// Request is one request the page sent, as the DevTools protocol reported
// it before it went out.
type Request struct {
	URL  string
	Host string // without port; empty for data: and blob: URLs
	Type string // Document, Script, EventSource, Media, Fetch, …
	At   time.Time
}

// Local reports whether the request stays on this machine: a hostless URL
// (data:, blob:) or a loopback host.
func (r Request) Local() bool {
	if r.Host == "" || r.Host == "localhost" {
		return true
	}
	ip := net.ParseIP(r.Host)
	return ip != nil && ip.IsLoopback()
}

// Browser is a running headless Chromium with one tab.
type Browser struct {
	t       testing.TB
	ctx     context.Context // the tab's chromedp context
	profile string          // the --user-data-dir of every process of this browser

	mu       sync.Mutex
	messages []Message
	requests []Request
	shots    int
}

// Start runs a headless Chromium for t, with one blank tab, and stops it
// through t.Cleanup. It fails t when chromium is not installed or does
// not start.
func Start(t testing.TB) *Browser {
	t.Helper()
	bin, err := chromiumPath()
	if err != nil {
		t.Fatal(err)
	}
	// Our own profile directory, so that the cleanup can check that no
	// process still uses it (chromedp removes only those it created).
	profile := filepath.Join(t.TempDir(), "profile")
	var output syncbuf.Buffer
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(profile),
		chromedp.CombinedOutput(&output),
	}, flags...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)

	b := &Browser{t: t, profile: profile}
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(b.record))
	b.ctx = ctx

	t.Cleanup(func() {
		// Close gracefully first (Chrome flushes and exits on its own);
		// the allocator's cancel then kills what is left and waits.
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		closeErr := chromedp.Cancel(cctx)
		cancel()
		cancelTab()
		cancelAlloc()
		if closeErr != nil && !errors.Is(closeErr, context.Canceled) {
			t.Logf("closing chromium: %v", closeErr)
		}
		if left := waitGone(profile, 10*time.Second); len(left) > 0 {
			t.Errorf("chromium processes left behind after the browser was closed: %v", left)
		}
		if t.Failed() {
			t.Logf("chromium output:\n%s", withoutNoise(output.String()))
		}
	})

	// The first Run starts the browser; its context must have no deadline
	// (a deadline would end the browser), so the wait is bounded here.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting %s: %v\n%s", bin, err, output.String())
		}
	case <-time.After(ActionTimeout):
		t.Fatalf("starting %s: no answer after %s\n%s", bin, ActionTimeout, output.String())
	}
	return b
}

// chromiumPath finds Debian's chromium.
func chromiumPath() (string, error) {
	if _, err := exec.LookPath("chromium"); err != nil {
		return "", fmt.Errorf("chromium is not installed (it is a test dependency: run `make deps`, or apt-get install chromium): %w", err)
	}
	if st, err := os.Stat(debianBinary); err == nil && !st.IsDir() {
		return debianBinary, nil
	}
	return exec.LookPath("chromium")
}

// record runs on chromedp's reading goroutine for every event of the tab;
// it only appends under the lock.
func (b *Browser) record(ev any) {
	var m *Message
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		level := string(e.Type)
		if e.Type == runtime.ConsoleAPICalledTypeAssert {
			level = "error"
		}
		m = &Message{Kind: "console." + string(e.Type), Level: level, Text: argsText(e.Args)}
		if e.StackTrace != nil && len(e.StackTrace.CallFrames) > 0 {
			m.URL = e.StackTrace.CallFrames[0].URL
		}
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		m = &Message{Kind: "exception", Level: "error", Text: text, URL: d.URL}
	case *log.EventEntryAdded:
		m = &Message{Kind: "log." + string(e.Entry.Source), Level: string(e.Entry.Level), Text: e.Entry.Text, URL: e.Entry.URL}
	case *network.EventRequestWillBeSent:
		r := Request{URL: e.Request.URL, Type: string(e.Type), At: time.Now()}
		if u, err := url.Parse(e.Request.URL); err == nil {
			r.Host = u.Hostname()
		}
		b.mu.Lock()
		b.requests = append(b.requests, r)
		b.mu.Unlock()
		return
	default:
		return
	}
	b.mu.Lock()
	b.messages = append(b.messages, *m)
	b.mu.Unlock()
}

func argsText(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		switch {
		case a == nil:
		case len(a.Value) > 0:
			s := string(a.Value)
			if uq, err := strconv.Unquote(s); err == nil {
				s = uq
			}
			parts = append(parts, s)
		case a.Description != "":
			parts = append(parts, a.Description)
		default:
			parts = append(parts, string(a.Type))
		}
	}
	return strings.Join(parts, " ")
}

// Context is the tab's chromedp context, for chromedp.Run and chromedp.Do.
// Derive a context with a timeout from it for each action: a deadline on
// it would end the browser.
func (b *Browser) Context() context.Context { return b.ctx }

// Do runs the actions in the tab, bounded by ActionTimeout, and fails the
// test on error.
func (b *Browser) Do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, ActionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// Navigate loads url in the tab and waits for its load event.
func (b *Browser) Navigate(url string) {
	b.t.Helper()
	b.Do("navigating to "+url, chromedp.Navigate(url))
}

// Eval evaluates a JavaScript expression in the tab (awaiting a promise)
// and decodes its value into T; it fails the test on error.
func Eval[T any](b *Browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, ActionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluating %q: %v", expr, err)
	}
	return v
}

// Messages returns everything the page wrote to its console so far.
func (b *Browser) Messages() []Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Message(nil), b.messages...)
}

// Errors returns the console errors, uncaught exceptions and error log
// entries so far.
func (b *Browser) Errors() []Message {
	var errs []Message
	for _, m := range b.Messages() {
		if m.Level == "error" {
			errs = append(errs, m)
		}
	}
	return errs
}

// Requests returns the requests the page sent so far, in order.
func (b *Browser) Requests() []Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Request(nil), b.requests...)
}

// Offsite returns the requests the page sent to a host other than this
// machine.
func (b *Browser) Offsite() []Request {
	var off []Request
	for _, r := range b.Requests() {
		if !r.Local() {
			off = append(off, r)
		}
	}
	return off
}

// Screenshot captures the whole page (beyond the viewport: a page taller
// than the window is not cut), saves it as <name>.png in the test's
// artifact directory, and returns it decoded, for pixel checks. Its pixels
// are page coordinates: an element's getBoundingClientRect() plus
// window.scrollX and scrollY.
func (b *Browser) Screenshot(name string) (image.Image, string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, ActionTimeout)
	defer cancel()
	data, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG, lossless
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		b.t.Fatalf("screenshot %s: decoding: %v", name, err)
	}
	b.mu.Lock()
	b.shots++
	n := b.shots
	b.mu.Unlock()
	path := filepath.Join(b.t.ArtifactDir(), fmt.Sprintf("%02d-%s.png", n, name))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	b.t.Logf("screenshot %s", path)
	return img, path
}

// waitGone waits until no process uses the profile directory, killing
// stragglers at the deadline, and returns those it found then. Chrome's
// children (renderer, GPU, zygote) carry --user-data-dir on their command
// lines, so the directory identifies every process of this browser.
func waitGone(profile string, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	for {
		left := processesUsing(profile)
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			for _, p := range left {
				if pid, err := strconv.Atoi(strings.Fields(p)[0]); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// processesUsing lists "pid cmdline" of the live processes whose command
// line names the profile directory.
func processesUsing(profile string) []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	want := "--user-data-dir=" + profile
	var found []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(want)) {
			continue
		}
		// A zombie has no command line, so a match is alive; keep its
		// first words for the message.
		args := strings.Fields(strings.ReplaceAll(string(cmdline), "\x00", " "))
		if len(args) > 2 {
			args = args[:2]
		}
		found = append(found, strconv.Itoa(pid)+" "+strings.Join(args, " "))
	}
	return found
}

// withoutNoise drops chromium's complaints that the container has no D-Bus
// and no sound card, which bury the lines that explain a failure.
func withoutNoise(out string) string {
	var keep []string
	for line := range strings.SplitSeq(out, "\n") {
		if !strings.Contains(line, ":ERROR:dbus/") && !strings.HasPrefix(line, "ALSA lib ") && !strings.Contains(line, "alsa_util.cc") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}
