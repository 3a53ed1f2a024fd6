package daemon

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/waittest"
)

// commander publishes set commands at QoS 1 from one connection, in order.
func commander(t *testing.T, b *mosquittotest.Broker) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("commander").SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("commander connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(250) })
	return c
}

func sendCommands(t *testing.T, c mqtt.Client, stream string, enabled ...bool) []mqtt.Token {
	t.Helper()
	toks := make([]mqtt.Token, 0, len(enabled))
	for _, on := range enabled {
		toks = append(toks, c.Publish(topic(stream, "set"), 1, false, fmt.Sprintf(`{"enabled":%t}`, on)))
	}
	return toks
}

func waitTokens(t *testing.T, toks []mqtt.Token) {
	t.Helper()
	for _, tok := range toks {
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("command not acknowledged: %v", tok.Error())
		}
	}
}

// streamState reads a stream's state and capture sessions so far.
func streamState(r *running, name string) (state string, opened int) {
	for _, run := range r.runningStreams() {
		if run.sup.cfg.Name == name {
			run.sup.mu.Lock()
			defer run.sup.mu.Unlock()
			return run.sup.state, run.sup.opened
		}
	}
	return "", 0
}

func commandDaemon(t *testing.T) (*running, *mosquittotest.Broker) {
	dir := t.TempDir()
	clip := makeClip(t, dir, "clip.mp4", 4)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	s := startSim(t, 0)
	r := startDaemon(t, configText(setup{broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store")},
		streamSpec{name: "front", input: clip, extra: []string{"loop = true"}}), nil, testHooks{})
	waittest.For(t, "the stream to run", 30*time.Second, func() bool {
		st, _ := streamState(r, "front")
		return st == "running"
	})
	return r, b
}

// TestCommandPairsInOrder: a command and its opposite sent back to back
// (QoS 1) end in the second one's state, every time: paho hands them to
// the publisher in the order the broker delivered them. Each trial's first
// command repeats the state the stream is in, so with the order kept each
// trial changes the state exactly once.
func TestCommandPairsInOrder(t *testing.T) {
	r, b := commandDaemon(t)
	c := commander(t, b)
	const trials = 30
	changes := func() float64 { return r.scrape(t).sum("garssl_mqtt_command_changes_total", nil) }
	on := true
	for i := range trials {
		waitTokens(t, sendCommands(t, c, "front", on, !on))
		on = !on
		waittest.For(t, fmt.Sprintf("trial %d to end with enabled=%t", i, on), 30*time.Second, func() bool {
			st, _ := streamState(r, "front")
			return (st == statePaused) == !on && changes() == float64(i+1)
		})
	}
	// A reversed pair would change the state twice, the second time up to
	// one pacing interval (1 s) after the first.
	time.Sleep(2 * time.Second)
	if n := changes(); n != trials {
		t.Errorf("%v state changes for %d trials; want one each", n, trials)
	}
	if st, _ := streamState(r, "front"); (st == statePaused) == !on {
		t.Logf("%d trials; final state %s", trials, st)
	} else {
		t.Errorf("final state %s; want enabled=%t", st, on)
	}
}

// TestCommandFlood: 5,000 alternating commands within 10 s end in the
// last one's state, reopen the input at most once a second (11 times at
// most) and log a few lines, not one per command.
func TestCommandFlood(t *testing.T) {
	r, b := commandDaemon(t)
	c := commander(t, b)
	_, openedBefore := streamState(r, "front")
	linesBefore := len(r.logs.lines(""))
	const n = 5000
	start := time.Now()
	var toks []mqtt.Token
	// Batches of an odd size, so that the latest command at any moment
	// is as often true as false.
	const batch = 25
	tick := time.NewTicker(9 * time.Second / n * batch) // over about 9 s
	for i := 0; i < n; i += batch {
		<-tick.C
		cmds := make([]bool, batch)
		for j := range cmds {
			cmds[j] = (i+j)%2 == 0 // the last, n-1, is false
		}
		toks = append(toks, sendCommands(t, c, "front", cmds...)...)
	}
	tick.Stop()
	waitTokens(t, toks)
	sent := time.Since(start)
	waittest.For(t, "all commands received", 30*time.Second, func() bool {
		return r.scrape(t).sum("garssl_mqtt_commands_total", map[string]string{"result": "received"}) == n
	})
	// Commands are applied (and the input reopened) only from the first
	// command's arrival until one pacing interval after the last's, which
	// came no later than now: a load that slows the sending or the
	// receiving widens this span, and the bound with it.
	received := time.Since(start)
	waittest.For(t, "the last command's state (paused)", 30*time.Second, func() bool {
		st, _ := streamState(r, "front")
		return st == statePaused
	})
	time.Sleep(2 * time.Second) // one pacing interval and then some: nothing else may follow
	st, opened := streamState(r, "front")
	reopens := opened - openedBefore
	var info []string
	for _, l := range r.logs.lines("")[linesBefore:] {
		if l["@level"] != "debug" && l["@level"] != "trace" {
			info = append(info, fmt.Sprint(l["@module"], ": ", l["@message"]))
		}
	}
	t.Logf("%d commands sent in %s, received in %s; final state %s; %d input reopens; %d log lines at info or above: %q",
		n, sent.Round(time.Millisecond), received.Round(time.Millisecond), st, reopens, len(info), info)
	if st != statePaused {
		t.Errorf("final state %s; want paused", st)
	}
	// At most one reopen per pacing interval (1 s) over that span, plus
	// the one at its start: 11 when the commands arrive within 10 s.
	if limit := int(math.Ceil(received.Seconds())) + 1; reopens > limit {
		t.Errorf("%d input reopens for commands received over %s; want at most %d (one a second)", reopens, received.Round(time.Millisecond), limit)
	}
	if len(info) > 25 {
		t.Errorf("%d log lines at info or above for %d commands; want a few", len(info), n)
	}
}
