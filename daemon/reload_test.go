package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/waittest"
)

// SIGHUP with a valid config: only the changed stream restarts, an added
// one starts, a removed one stops and leaves the status and the metrics,
// an untouched one goes on capturing without a hiccup, and a new model
// endpoint takes the next windows.
func TestReloadRestartsOnlyWhatChanged(t *testing.T) {
	dir := t.TempDir()
	clip := makeClip(t, dir, "clip.mp4", 4)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	sub := subscribe(t, b, "reload")
	s1, s2 := startSim(t, 0), startSim(t, 0)
	base := setup{broker: b.URL(), endpoint: s1.url, storeDir: filepath.Join(dir, "store"), maxQueue: 4}
	loop := []string{"loop = true"}
	// A watchdog that counts a loop silent for 2 s as hung: stopped and
	// replaced loops must not count.
	r := startDaemon(t, configText(base,
		streamSpec{name: "keep", input: clip, extra: loop},
		streamSpec{name: "change", input: clip, extra: loop},
		streamSpec{name: "gone", input: clip, extra: loop}), &fakeSystemd{watchdog: 4 * time.Second}, testHooks{})
	seqs := func(stream string) map[uint64]struct{} {
		return seqSet(distinctSeqs(detections(t, sub.Messages(), stream), r.RunID()))
	}
	waittest.For(t, "detections from every stream", 60*time.Second, func() bool {
		return len(seqs("keep")) >= 2 && len(seqs("change")) >= 2 && len(seqs("gone")) >= 2
	})
	keepStates := len(states(sub.Messages(), "keep"))
	changeStates := len(states(sub.Messages(), "change"))
	changeCut := uint64(r.cutWindows(t, "change"))

	next := base
	next.endpoint = s2.url
	r.reload(t, configText(next,
		streamSpec{name: "keep", input: clip, extra: loop},
		streamSpec{name: "change", input: clip, window: "2s", extra: loop},
		streamSpec{name: "added", input: clip, extra: loop}))
	if n := r.systemd.count("RELOADING=1"); n != 1 {
		t.Errorf("RELOADING=1 sent %d times", n)
	}
	if len(r.logs.lines("config reloaded")) != 1 {
		t.Errorf("no 'config reloaded' log line")
	}

	afterKeep := uint64(r.cutWindows(t, "keep"))
	waittest.For(t, "new windows of every stream", 60*time.Second, func() bool {
		long := 0
		for _, d := range distinctSeqs(detections(t, sub.Messages(), "change"), r.RunID()) {
			if d.Seq > changeCut && d.Window.PTSEndS-d.Window.PTSStartS == 2 {
				long++
			}
		}
		return long >= 2 && len(seqs("added")) >= 2 && slices.Max(sortedSeqs(seqs("keep"))) > afterKeep+2
	})
	reloaded := time.Now()
	waittest.For(t, "three seconds after the reload", 30*time.Second, func() bool { return time.Since(reloaded) > 3*time.Second })
	if code, l := r.liveness(t); code != 200 {
		t.Errorf("/healthz after the reload: %d %v", code, l.Hung)
	}
	if got := states(sub.Messages(), "keep"); len(got) != keepStates {
		t.Errorf("the untouched stream changed state across the reload: %v", got[keepStates:])
	}
	// Every state change is logged; the publisher coalesces a stream's
	// states to the latest, so a short-lived one (the "stopped" of a
	// restart) may never reach the broker, whose retained state is the
	// latest.
	stopped := 0
	for _, l := range r.logs.lines("stream state") {
		if l["stream"] == "change" && l["state"] == "stopped" {
			stopped++
		}
	}
	if stopped != 1 {
		t.Errorf("the changed stream logged %d stops across the reload, want 1", stopped)
	}
	if !seenState(sub.Messages(), "change", "running", changeStates) {
		t.Errorf("the changed stream's states after the reload: %v, want running", states(sub.Messages(), "change")[changeStates:])
	}
	if st := retainedState(t, b, "change"); st != "running" {
		t.Errorf("the changed stream's retained state: %s", st)
	}
	// Nothing of the untouched stream is lost to the reload: every seq up
	// to its highest arrived, except windows the scheduler dropped for
	// freshness (a loaded machine falls behind the windows of three 1 s
	// streams through one request slot), none dropped at a shutdown.
	// A window below the highest published may still be at the model (the
	// newest starts first): wait for the accounts to settle.
	var got map[uint64]struct{}
	var drops map[string]float64
	explained := func() bool {
		got = seqs("keep")
		drops = r.scrape(t).byLabel("garssl_windows_dropped_total", "reason", map[string]string{"stream": "keep"})
		freshness := drops["stale"] + drops["too_late"] + drops["superseded"] + drops["queue_full"]
		return float64(slices.Max(sortedSeqs(got)))-float64(len(got)) <= freshness && drops["shutdown"] == 0
	}
	deadline := time.Now().Add(15 * time.Second)
	for !explained() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if !explained() {
		t.Errorf("the untouched stream's seqs have gaps the drops do not explain: %v; drops %v", sortedSeqs(got), drops)
	}
	if s2.Stats().Requests == 0 {
		t.Error("the new model endpoint got no request")
	}
	m := r.scrape(t)
	if n := m.seriesWith("stream", "gone"); n != 0 {
		t.Errorf("the removed stream still has %d series", n)
	}
	if n := m.seriesWith("endpoint", endpointName(s1.url)); n != 0 {
		t.Errorf("the replaced model endpoint still has %d series", n)
	}
	if n := m.seriesWith("endpoint", endpointName(s2.url)); n == 0 {
		t.Errorf("the new model endpoint has no series")
	}
	lintRegistry(t, r.reg)
	var status struct{ Streams []string }
	for _, msg := range sub.Messages() {
		if msg.Topic == "garssl/"+testNode+"/status" {
			if err := json.Unmarshal(msg.Payload, &status); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !slices.Equal(status.Streams, []string{"added", "change", "keep"}) {
		t.Errorf("status lists %v after the reload", status.Streams)
	}
}

// SIGHUP with a broken config, or one that changes what needs a restart:
// the diagnostics are logged, READY=1 follows, and the running config
// goes on unchanged.
func TestInvalidReloadKeepsTheRunningConfig(t *testing.T) {
	dir := t.TempDir()
	clip := makeClip(t, dir, "clip.mp4", 4)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	sub := subscribe(t, b, "bad-reload")
	s := startSim(t, 0)
	base := setup{broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store"), maxQueue: 4}
	good := configText(base, streamSpec{name: "front", input: clip, extra: []string{"loop = true"}})
	r := startDaemon(t, good, nil, testHooks{})
	seqs := func() map[uint64]struct{} {
		return seqSet(distinctSeqs(detections(t, sub.Messages(), "front"), r.RunID()))
	}
	waittest.For(t, "detections", 30*time.Second, func() bool { return len(seqs()) >= 2 })

	// The refused reloads name another model endpoint: they must leave no
	// series for it.
	other := startSim(t, 0)
	withOther := strings.Replace(good, s.url, other.url, 1)
	broken := strings.Replace(withOther, `window = "1s"`, `window = "1.00001s"`, 1)
	r.reload(t, broken)
	lines := r.logs.lines("config reload refused")
	if len(lines) != 1 {
		t.Fatalf("%d 'reload refused' lines", len(lines))
	}
	want := fmt.Sprintf("%s:", r.cfgPath)
	if e, _ := lines[0]["error"].(string); !strings.Contains(e, want) || !strings.Contains(e, "stream.front.window = 1.00001s is not a whole number of 16 kHz samples") {
		t.Errorf("the refusal does not carry the file:line:col diagnostic: %v", lines[0])
	}

	renamed := strings.Replace(good, `node_id = "robot-t"`, `node_id = "robot-u"`, 1)
	r.reload(t, renamed)
	if lines := r.logs.lines("config reload refused"); len(lines) != 2 || !strings.Contains(fmt.Sprint(lines[1]["error"]), "restart garssld") {
		t.Errorf("a node_id change was not refused as needing a restart: %v", lines)
	}

	// Valid, and its model client is built, but the new listen address is
	// taken: refused after the model client was made.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	r.reload(t, strings.Replace(withOther, `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", busy.Addr().String()), 1))
	if lines := r.logs.lines("config reload refused"); len(lines) != 3 {
		t.Errorf("a reload to a listen address in use was not refused: %v", lines)
	}
	m := r.scrape(t)
	if n := m.seriesWith("endpoint", endpointName(other.url)); n != 0 {
		t.Errorf("refused reloads left %d series for their model endpoint", n)
	}
	if n := m.seriesWith("endpoint", endpointName(s.url)); n == 0 {
		t.Errorf("the running model endpoint lost its series")
	}

	cut := uint64(r.cutWindows(t, "front"))
	waittest.For(t, "detections after the refused reloads", 30*time.Second, func() bool { return slices.Max(sortedSeqs(seqs())) > cut+1 })
	if ok, _ := contiguous(seqs()); !ok {
		t.Errorf("seqs have gaps: %v", sortedSeqs(seqs()))
	}
	if got := states(sub.Messages(), "front"); slices.Contains(got, "stopped") {
		t.Errorf("the stream stopped: %v", got)
	}
	if r.cfg.Streams[0].Window != time.Second {
		t.Errorf("running window = %s", r.cfg.Streams[0].Window)
	}
}

// TLS with client certificates made by openssl, and a wrong password: the
// daemon runs regardless, says clearly why it cannot connect and keeps
// trying; after the password file is fixed, SIGHUP applies it and
// detections reach a TLS subscriber.
func TestTLSWrongPasswordThenFixedByReload(t *testing.T) {
	dir := t.TempDir()
	certs := mosquittotest.MakeCerts(t, dir)
	clip := makeClip(t, dir, "clip.mp4", 4)
	b := mosquittotest.Start(t, mosquittotest.Config{
		Users: map[string]string{"robot-7": "right-pass"},
		TLS:   &mosquittotest.TLS{CAFile: certs.CA, CertFile: certs.ServerCert, KeyFile: certs.ServerKey, RequireClientCert: true},
	})
	pass := filepath.Join(dir, "mqtt.pass")
	if err := os.WriteFile(pass, []byte("wrong-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startSim(t, 0)
	text := configText(setup{broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store"), maxQueue: 4,
		extraMQTT: []string{`username = "robot-7"`, fmt.Sprintf("password_file = %q", pass),
			fmt.Sprintf("tls {\n    ca_file = %q\n    cert_file = %q\n    key_file = %q\n  }", certs.CA, certs.ClientCert, certs.ClientKey)}},
		streamSpec{name: "front", input: clip, extra: []string{"loop = true"}})
	r := startDaemon(t, text, nil, testHooks{})

	waittest.For(t, "the refusal in the log", 60*time.Second, func() bool { return len(r.logs.lines("cannot connect to the MQTT broker")) > 0 })
	line := r.logs.lines("cannot connect to the MQTT broker")[0]
	if reason, _ := line["reason"].(string); !strings.Contains(reason, "refused the credentials") || line["broker"] != b.URL() {
		t.Errorf("the connection failure does not say what to fix: %v", line)
	}
	if strings.Contains(r.logs.String(), "wrong-pass") {
		t.Error("the password appears in the log")
	}
	waittest.For(t, "retries", 60*time.Second, func() bool { return strings.Count(b.Log(), "New connection from") >= 3 })
	if code, _ := r.get(t, "/healthz"); code != 200 {
		t.Errorf("/healthz = %d with the broker refusing", code)
	}
	if rep := r.ready(t); rep.Ready || rep.MQTT.Connected {
		t.Errorf("/readyz with the broker refusing: %+v", rep)
	}

	if err := os.WriteFile(pass, []byte("right-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.reload(t, text) // same file, rotated secret
	waittest.For(t, "the connection", 60*time.Second, func() bool { return r.ready(t).MQTT.Connected })
	pair, err := tls.LoadX509KeyPair(certs.ClientCert, certs.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	sub := mosquittotest.Subscribe(t, b.URL(), mosquittotest.SubscriberConfig{
		ClientID: "tls-sub", QoS: 1, Topics: []string{"garssl/" + testNode + "/#"},
		Username: "robot-7", Password: "right-pass",
		TLS: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
	})
	sub.WaitFor(t, "detections over TLS", 60*time.Second, func(m []mosquittotest.Message) bool {
		return len(detections(t, m, "front")) >= 2
	})
}
