package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/garssl/garssld/internal/mosquittotest"
)

// fleetOutage is how long the fleet broker is down mid-run: issue 18's
// 30 s link outage.
const fleetOutage = 30 * time.Second

// bridgeClientID is configs/mosquitto-bridge.conf's remote_clientid.
const bridgeClientID = "garssl-bridge-robot-7"

// bridgeConf is the shipped configs/mosquitto-bridge.conf pointed at the
// test's fleet broker and certificates. Every replacement must match, so
// the test follows the file.
func bridgeConf(t *testing.T, fleetAddr string, certs mosquittotest.Certs) string {
	t.Helper()
	b, err := os.ReadFile("../../configs/mosquitto-bridge.conf")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, r := range []struct{ old, new string }{
		{"address fleet.example.org:8883", "address " + fleetAddr},
		{"bridge_cafile /etc/mosquitto/certs/fleet-ca.crt", "bridge_cafile " + certs.CA},
		{"bridge_certfile /etc/mosquitto/certs/robot.crt", "bridge_certfile " + certs.ClientCert},
		{"bridge_keyfile /etc/mosquitto/certs/robot.key", "bridge_keyfile " + certs.ClientKey},
		// The reconnect backoff is not under test; a 30 s cap would
		// only make the test wait for it.
		{"restart_timeout 2 30", "restart_timeout 1 2"},
	} {
		if !strings.Contains(text, r.old+"\n") {
			t.Fatalf("configs/mosquitto-bridge.conf has no line %q", r.old)
		}
		text = strings.Replace(text, r.old+"\n", r.new+"\n", 1)
	}
	return text
}

type detectionKey struct {
	run, stream string
	seq         uint64
}

// detectionKeys counts the detections in msgs by (run_id, stream, seq).
func detectionKeys(msgs []mosquittotest.Message) map[detectionKey]int {
	keys := map[detectionKey]int{}
	for _, m := range msgs {
		if !strings.HasSuffix(m.Topic, "/detections") {
			continue
		}
		var d struct {
			RunID  string `json:"run_id"`
			Stream string `json:"stream"`
			Seq    uint64 `json:"seq"`
		}
		if json.Unmarshal(m.Payload, &d) == nil {
			keys[detectionKey{d.RunID, d.Stream, d.Seq}]++
		}
	}
	return keys
}

// missing lists the keys of want that got lacks.
func missing(want, got map[detectionKey]int) []detectionKey {
	var out []detectionKey
	for k := range want {
		if got[k] == 0 {
			out = append(out, k)
		}
	}
	return out
}

// The robot's mosquitto, configured by configs/mosquitto-bridge.conf,
// bridges garssld's detections to a fleet broker over TLS (client
// certificate required). The fleet broker is stopped for fleetOutage
// mid-run: every detection the local broker got reaches a persistent QoS 1
// subscriber on the fleet exactly once after dedup by (run_id, stream,
// seq). Then, with the link down again, the local broker itself restarts:
// its persistence keeps the bridge's queue, and the detections published
// before the restart still reach the fleet. The link state
// ($SYS/broker/connection/<remote_clientid>/state) reaches the fleet: 1
// while up, 0 (the bridge's will) when the robot's broker goes away.
func TestBridgeToTheFleetLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("a 30 s outage")
	}
	dir := t.TempDir()
	clip := runClip(t, dir)
	certs := mosquittotest.MakeCerts(t, t.TempDir())
	fleet := mosquittotest.Start(t, mosquittotest.Config{Persistence: true, TLS: &mosquittotest.TLS{
		CAFile: certs.CA, CertFile: certs.ServerCert, KeyFile: certs.ServerKey, RequireClientCert: true}})
	robot := mosquittotest.Start(t, mosquittotest.Config{Persistence: true, Extra: bridgeConf(t, fleet.Addr(), certs)})

	pool := x509.NewCertPool()
	ca, err := os.ReadFile(certs.CA)
	if err != nil || !pool.AppendCertsFromPEM(ca) {
		t.Fatalf("the test CA: %v", err)
	}
	clientCert, err := tls.LoadX509KeyPair(certs.ClientCert, certs.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	stateTopic := "$SYS/broker/connection/" + bridgeClientID + "/state"
	atFleet := mosquittotest.Subscribe(t, fleet.URL(), mosquittotest.SubscriberConfig{
		ClientID: "fleet-backend", Persistent: true, QoS: 1,
		Topics: []string{"garssl/+/+/detections", stateTopic},
		TLS:    &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}}})
	// What garssld handed the robot's broker: the detections to deliver.
	atRobot := mosquittotest.Subscribe(t, robot.URL(), mosquittotest.SubscriberConfig{
		ClientID: "robot-local", QoS: 1, Topics: []string{"garssl/+/+/detections"}})
	lastState := func() string {
		s := ""
		for _, m := range atFleet.On(stateTopic) {
			s = string(m.Payload)
		}
		return s
	}
	waitUntil(t, "the bridge's state 1 on the fleet broker", 30*time.Second, func() bool { return lastState() == "1" })

	cfg := runConfig(t, dir, robot.URL(), omnisimEndpoint(t), clip)
	d := startChild(t, dir, "run", "--config", cfg)
	d.httpAddr(t)
	atFleet.WaitFor(t, "detections through the bridge", 60*time.Second, func(m []mosquittotest.Message) bool {
		return len(detectionKeys(m)) >= 3
	})

	// 1. The fleet broker down for fleetOutage while garssld publishes.
	fleet.Stop()
	before := len(detectionKeys(atRobot.Messages()))
	time.Sleep(fleetOutage) // the outage itself, not a wait for an event
	during := len(detectionKeys(atRobot.Messages())) - before
	if during == 0 {
		t.Fatalf("garssld published no detection during the %s outage", fleetOutage)
	}
	fleet.Start()
	waitUntil(t, "the bridge's state 1 after the outage", 60*time.Second, func() bool { return lastState() == "1" })
	// Stop garssld so that the set to deliver is final.
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := d.exitCode(t, 60*time.Second); code != 0 {
		t.Errorf("garssld exit %d after SIGTERM", code)
	}
	sent := detectionKeys(atRobot.Messages())
	atFleet.WaitFor(t, "every detection at the fleet", 60*time.Second, func(m []mosquittotest.Message) bool {
		return len(missing(sent, detectionKeys(m))) == 0
	})
	got := detectionKeys(atFleet.Messages())
	dups := 0
	for _, n := range got {
		dups += n - 1
	}
	extra := missing(got, sent)
	t.Logf("outage %s: %d detections sent (%d during the outage), %d received at the fleet, %d duplicates, %d unknown",
		fleetOutage, len(sent), during, len(got), dups, len(extra))
	if len(extra) > 0 {
		t.Errorf("the fleet got detections the robot's broker never had: %v", extra)
	}

	// 2. The link down again, and the robot's broker restarted while it
	// is: what it queued for the bridge before the restart survives in
	// its database (persistence true, local_cleansession false).
	fleet.Stop()
	d2 := startChild(t, dir, "run", "--config", cfg)
	d2.httpAddr(t)
	waitUntil(t, "detections queued on the robot's broker", 60*time.Second, func() bool {
		return len(detectionKeys(atRobot.Messages())) >= len(sent)+3
	})
	if err := d2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := d2.exitCode(t, 60*time.Second); code != 0 {
		t.Errorf("garssld exit %d after SIGTERM", code)
	}
	// garssld has stopped, so everything it published was acknowledged
	// by the robot's broker: only that broker's persistence can keep it.
	queued := detectionKeys(atRobot.Messages())
	robot.Stop()
	robot.Start()
	fleet.Start()
	atFleet.WaitFor(t, "the detections queued before the robot's broker restarted", 60*time.Second, func(m []mosquittotest.Message) bool {
		return len(missing(queued, detectionKeys(m))) == 0
	})
	queuedOnly := map[detectionKey]int{}
	for k := range queued {
		if sent[k] == 0 {
			queuedOnly[k] = 1
		}
	}
	t.Logf("robot broker restarted with the link down: %d of the %d detections it queued reached the fleet",
		len(queuedOnly)-len(missing(queuedOnly, detectionKeys(atFleet.Messages()))), len(queuedOnly))

	// 3. Liveness: the robot's broker gone, the fleet sees 0.
	waitUntil(t, "the bridge's state 1 after both restarts", 60*time.Second, func() bool { return lastState() == "1" })
	if err := syscall.Kill(robot.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the bridge's state 0 on the fleet once the robot's broker died", 60*time.Second,
		func() bool { return lastState() == "0" })
}
