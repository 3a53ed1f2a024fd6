package publish

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/garssl/garssld/config"
	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/waittest"
)

// optionsFromHCL loads an mqtt block through the config package and
// builds Options with FromConfig, as the daemon does.
func optionsFromHCL(t *testing.T, mqttBlock string) Options {
	t.Helper()
	src := fmt.Sprintf("node_id = %q\nmqtt {\n%s\n  store_dir = %q\n  max_reconnect_interval = \"1s\"\n}\n",
		testNode, mqttBlock, t.TempDir())
	cfg, err := config.Parse([]byte(src), "garssl.hcl")
	if err != nil {
		t.Fatalf("config:\n%s\n%v", src, err)
	}
	o, err := FromConfig(cfg, "test-1.0")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// connectFailure runs a publisher that cannot connect and checks that it
// logs one clear line naming the broker and the reason while it keeps
// retrying, and that it stops cleanly.
func connectFailure(t *testing.T, o Options, brokerURL, wantReason string) {
	t.Helper()
	h := newHarness(t, o)
	stop := h.run(t)
	waittest.For(t, "three failed attempts", 30*time.Second, func() bool { return h.p.failed.Load() >= 3 })
	if h.p.Connected() {
		t.Fatal("connected")
	}
	lines := h.logs.lines("cannot connect to the MQTT broker")
	if len(lines) != 1 {
		t.Fatalf("%d 'cannot connect' lines for three failures of one kind; want them folded into 1", len(lines))
	}
	l := lines[0]
	if l["broker"] != brokerURL || !strings.Contains(fmt.Sprint(l["reason"]), wantReason) || l["@level"] != "error" {
		t.Errorf("log line = %v; want broker %s and a reason containing %q", l, brokerURL, wantReason)
	}
	seen := map[string]bool{}
	for _, l := range h.logs.lines("mqtt library reports a problem") {
		key := withoutDigits(fmt.Sprint(l["paho"]))
		if seen[key] {
			t.Errorf("paho's %q logged again within the fold interval", l["paho"])
		}
		seen[key] = true
	}
	if o.Password != "" && strings.Contains(h.logs.String(), o.Password) {
		t.Error("the password appears in the log")
	}
	stop()
}

func TestTLSClientCertificates(t *testing.T) {
	noLeaks(t)
	certs := mosquittotest.MakeCerts(t, t.TempDir())
	b := mosquittotest.Start(t, mosquittotest.Config{TLS: &mosquittotest.TLS{
		CAFile: certs.CA, CertFile: certs.ServerCert, KeyFile: certs.ServerKey, RequireClientCert: true,
	}})
	block := func(ca string, withCert bool) string {
		s := fmt.Sprintf("  broker = %q\n  tls {\n    ca_file = %q\n", b.URL(), ca)
		if withCert {
			s += fmt.Sprintf("    cert_file = %q\n    key_file = %q\n", certs.ClientCert, certs.ClientKey)
		}
		return s + "  }"
	}

	t.Run("trusted", func(t *testing.T) {
		subTLS, err := tlsConfig(&config.TLS{CAFile: certs.CA, CertFile: certs.ClientCert, KeyFile: certs.ClientKey})
		if err != nil {
			t.Fatal(err)
		}
		sub := mosquittotest.Subscribe(t, b.URL(), mosquittotest.SubscriberConfig{
			ClientID: "tls-sub", QoS: 1, TLS: subTLS, Topics: []string{testPrefix + "/" + testNode + "/+/detections"},
		})
		h := newHarness(t, optionsFromHCL(t, block(certs.CA, true)))
		stop := h.run(t)
		waittest.For(t, "the TLS connection", 30*time.Second, h.p.Connected)
		h.p.Detection("front", 1, detectionPayload(t, "front", 1))
		sch := detectionSchema(t)
		sub.WaitFor(t, "the detection over TLS", 20*time.Second, func(m []mosquittotest.Message) bool {
			return len(detectionSeqs(t, sch, m, "front")) == 1
		})
		stop()
	})
	t.Run("unknown CA", func(t *testing.T) {
		connectFailure(t, optionsFromHCL(t, block(certs.OtherCA, true)), b.URL(), "not signed by a trusted CA; check mqtt.tls.ca_file")
	})
	t.Run("no client certificate", func(t *testing.T) {
		connectFailure(t, optionsFromHCL(t, block(certs.CA, false)), b.URL(), "check mqtt.tls.cert_file and key_file")
	})
	t.Run("plain TCP to a TLS port", func(t *testing.T) {
		o := optionsFromHCL(t, fmt.Sprintf("  broker = %q", "tcp://"+b.Addr()))
		connectFailure(t, o, "tcp://"+b.Addr(), "if it expects TLS on this port, use ssl://")
	})
}

func TestPasswordFile(t *testing.T) {
	noLeaks(t)
	b := mosquittotest.Start(t, mosquittotest.Config{Users: map[string]string{"robot-7": "right-horse-battery"}})
	passFile := func(secret string) string {
		path := filepath.Join(t.TempDir(), "mqtt.pass")
		if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	block := func(secret string) string {
		return fmt.Sprintf("  broker = %q\n  username = \"robot-7\"\n  password_file = %q", b.URL(), passFile(secret))
	}

	t.Run("wrong password", func(t *testing.T) {
		o := optionsFromHCL(t, block("wrong-staple"))
		if o.Password != "wrong-staple" {
			t.Fatalf("password read as %q", o.Password)
		}
		connectFailure(t, o, b.URL(), "the broker refused the credentials; check mqtt.username and mqtt.password_file")
	})
	t.Run("right password", func(t *testing.T) {
		h := newHarness(t, optionsFromHCL(t, block("right-horse-battery")))
		stop := h.run(t)
		waittest.For(t, "the connection", 30*time.Second, h.p.Connected)
		waittest.For(t, "the online status", 20*time.Second, func() bool {
			return h.obs.get(func(r *recorder) int { return r.published[KindStatus] }) == 1
		})
		stop()
	})
}

func TestFromConfigRejectsBadTLSFiles(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tlsConfig(&config.TLS{CAFile: notPEM}); err == nil || !strings.Contains(err.Error(), "mqtt.tls.ca_file") {
		t.Errorf("CA without PEM: %v", err)
	}
	if _, err := tlsConfig(&config.TLS{CertFile: notPEM, KeyFile: notPEM}); err == nil || !strings.Contains(err.Error(), "cert_file") {
		t.Errorf("bad key pair: %v", err)
	}
	if c, err := tlsConfig(nil); c != nil || err != nil {
		t.Errorf("no tls block: %v %v", c, err)
	}
}
