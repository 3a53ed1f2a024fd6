// Package mosquittotest runs a real mosquitto broker (Debian's package) for
// tests: on a free 127.0.0.1 port, with its own config file, log and
// persistence directory under t.TempDir(), stopped by t.Cleanup. A broker
// can be stopped and started again on the same port with the same
// persistence, which is what outage tests need. mosquitto is a declared test
// dependency (make deps), so its absence fails the test instead of skipping.
package mosquittotest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Config describes the broker to run. The zero value is an anonymous
// plain-TCP broker without persistence.
type Config struct {
	// Persistence keeps retained messages, persistent sessions and their
	// queued messages across Stop/Start (mosquitto writes its database on
	// SIGTERM).
	Persistence bool

	// Users, when not empty, turns anonymous access off and writes a
	// password file (with mosquitto_passwd) holding these user → password
	// pairs.
	Users map[string]string

	// TLS, when set, makes the listener TLS-only.
	TLS *TLS

	// Extra is appended to the generated mosquitto.conf: a bridge
	// section, or settings that override the ones above (mosquitto takes
	// the last value of a repeated option).
	Extra string

	// ACL, when not empty, is written to an acl_file: mosquitto's
	// "user <name>" and "topic [read|write|readwrite] <filter>" lines;
	// those before any "user" line apply to anonymous clients.
	ACL string

	// MessageSizeLimit, when above 0, makes the broker drop publishes with
	// a larger payload (acknowledging them to MQTT 3.1.1 clients).
	MessageSizeLimit int
}

// TLS names the broker's PEM files.
type TLS struct {
	CAFile, CertFile, KeyFile string
	// RequireClientCert makes the broker demand a client certificate signed
	// by CAFile.
	RequireClientCert bool
}

// Broker is a running (or stopped) mosquitto.
type Broker struct {
	t    testing.TB
	dir  string
	conf string
	log  string
	port int
	tls  bool

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start runs a broker on a free port and registers its shutdown with
// t.Cleanup. On test failure the broker's log is printed.
func Start(t testing.TB, cfg Config) *Broker {
	t.Helper()
	b := newBroker(t, cfg)
	// A free port can be taken by someone else between probing and binding;
	// try a few.
	var err error
	for range 5 {
		b.port = freePort(t)
		if err = b.writeConfig(cfg); err != nil {
			t.Fatalf("mosquittotest: %v", err)
		}
		if err = b.start(); err == nil {
			return b
		}
	}
	t.Fatalf("mosquittotest: %v", err)
	return nil
}

// StartOn is Start on a given port, for a broker that a test starts after
// its client (see ReservePort).
func StartOn(t testing.TB, port int, cfg Config) *Broker {
	t.Helper()
	b := newBroker(t, cfg)
	b.port = port
	if err := b.writeConfig(cfg); err != nil {
		t.Fatalf("mosquittotest: %v", err)
	}
	b.Start()
	return b
}

func newBroker(t testing.TB, cfg Config) *Broker {
	dir := t.TempDir()
	b := &Broker{t: t, dir: dir, conf: filepath.Join(dir, "mosquitto.conf"), log: filepath.Join(dir, "mosquitto.log"), tls: cfg.TLS != nil}
	t.Cleanup(func() {
		b.Stop()
		if t.Failed() {
			if log, err := os.ReadFile(b.log); err == nil {
				t.Logf("mosquitto log (%s):\n%s", b.conf, tail(log, 60))
			}
		}
	})
	return b
}

// Addr is the broker's host:port.
func (b *Broker) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

// URL is the broker URL for paho: tcp:// or ssl:// plus Addr.
func (b *Broker) URL() string {
	if b.tls {
		return "ssl://" + b.Addr()
	}
	return "tcp://" + b.Addr()
}

// Dir is the broker's private directory (config, log, persistence).
func (b *Broker) Dir() string { return b.dir }

// Log returns what the broker has logged so far.
func (b *Broker) Log() string {
	data, _ := os.ReadFile(b.log)
	return string(data)
}

func (b *Broker) writeConfig(cfg Config) error {
	var c strings.Builder
	fmt.Fprintf(&c, "listener %d 127.0.0.1\n", b.port)
	// Debian's mosquitto drops root privileges to user mosquitto, which
	// could not read the test's private directory.
	c.WriteString("user root\n")
	fmt.Fprintf(&c, "log_dest file %s\n", b.log)
	// subscribe and unsubscribe log "<client> [<qos>] <filter>" lines,
	// which tests of a client's subscriptions read.
	c.WriteString("log_type error\nlog_type warning\nlog_type notice\nlog_type information\nlog_type subscribe\nlog_type unsubscribe\n")
	c.WriteString("connection_messages true\nlog_timestamp_format %H:%M:%S\n")
	// Persistent sessions must not lose messages queued for an offline
	// subscriber during a test (mosquitto's default cap is 1000). Not 0
	// (no cap): mosquitto 2.0.11 compares a refused publish's client queue
	// with the cap, finds it ">= 0" and disconnects the client, so an ACL
	// that denies a QoS 1 publish would look like a flapping connection.
	c.WriteString("max_queued_messages 10000000\nmax_inflight_messages 0\n")
	if cfg.Persistence {
		pdir := filepath.Join(b.dir, "persist") + "/"
		if err := os.MkdirAll(pdir, 0o700); err != nil {
			return err
		}
		fmt.Fprintf(&c, "persistence true\npersistence_location %s\nautosave_interval 0\n", pdir)
	}
	if len(cfg.Users) > 0 {
		pw := filepath.Join(b.dir, "passwd")
		if err := os.WriteFile(pw, nil, 0o600); err != nil {
			return err
		}
		for user, pass := range cfg.Users {
			if out, err := exec.Command("mosquitto_passwd", "-b", pw, user, pass).CombinedOutput(); err != nil {
				return fmt.Errorf("mosquitto_passwd: %v: %s", err, out)
			}
		}
		fmt.Fprintf(&c, "allow_anonymous false\npassword_file %s\n", pw)
	} else {
		c.WriteString("allow_anonymous true\n")
	}
	if cfg.ACL != "" {
		acl := filepath.Join(b.dir, "acl")
		if err := os.WriteFile(acl, []byte(cfg.ACL), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(&c, "acl_file %s\n", acl)
	}
	if cfg.MessageSizeLimit > 0 {
		fmt.Fprintf(&c, "message_size_limit %d\n", cfg.MessageSizeLimit)
	}
	if t := cfg.TLS; t != nil {
		fmt.Fprintf(&c, "cafile %s\ncertfile %s\nkeyfile %s\n", t.CAFile, t.CertFile, t.KeyFile)
		if t.RequireClientCert {
			c.WriteString("require_certificate true\n")
		}
	}
	if cfg.Extra != "" {
		c.WriteString(cfg.Extra + "\n")
	}
	return os.WriteFile(b.conf, []byte(c.String()), 0o600)
}

// start launches mosquitto and waits until it accepts connections.
func (b *Broker) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		return errors.New("already running")
	}
	cmd := exec.Command("mosquitto", "-c", b.conf)
	// A file, not a buffer: os/exec would copy into a buffer with a
	// goroutine of its own, which leak checks would see.
	out, err := os.OpenFile(filepath.Join(b.dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start mosquitto: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-done:
			log, _ := os.ReadFile(b.log)
			stdout, _ := os.ReadFile(out.Name())
			return fmt.Errorf("mosquitto exited at start: %s\n%s\n%s", cmd.ProcessState, tail(stdout, 20), tail(log, 20))
		default:
		}
		if c, err := net.DialTimeout("tcp", b.Addr(), time.Second); err == nil {
			c.Close()
			b.cmd, b.done = cmd, done
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return errors.New("mosquitto did not accept connections within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Start runs the broker again on the same port, config and persistence
// after Stop. It fails the test if the broker does not come up.
func (b *Broker) Start() {
	b.t.Helper()
	// The port was ours a moment ago; a restart can still race another
	// process for it, or the old socket may linger. Retry briefly.
	var err error
	for range 50 {
		if err = b.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("mosquittotest: restart: %v", err)
}

// Stop terminates the broker with SIGTERM (so a persistent broker saves its
// database) and waits for it to exit. Stopping a stopped broker does
// nothing.
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(30 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
	b.cmd, b.done = nil, nil
}

// Restart stops the broker, rewrites its config as cfg (on the same port
// and directory, so persistence carries over) and starts it again.
func (b *Broker) Restart(cfg Config) {
	b.t.Helper()
	b.Stop()
	if err := b.writeConfig(cfg); err != nil {
		b.t.Fatalf("mosquittotest: %v", err)
	}
	b.Start()
}

// PID is the broker process's id, or 0 while it is stopped: for
// measuring its CPU time.
func (b *Broker) PID() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return 0
	}
	return b.cmd.Process.Pid
}

// Running reports whether the broker process is up.
func (b *Broker) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cmd != nil
}

// Port is the broker's TCP port.
func (b *Broker) Port() int { return b.port }

// ReservePort returns a 127.0.0.1 port that was free a moment ago, for a
// broker a test starts later with StartOn (a "down at boot" test).
func ReservePort(t testing.TB) int { return freePort(t) }

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mosquittotest: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func tail(b []byte, lines int) string {
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// Certs are PEM files made by openssl for a TLS test: a CA, a server
// certificate for 127.0.0.1 and a client certificate, both signed by the
// CA, and an unrelated CA that signed nothing the broker uses.
type Certs struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey, OtherCA string
}

// MakeCerts creates Certs in dir with the openssl CLI (a declared test
// dependency).
func MakeCerts(t testing.TB, dir string) Certs {
	t.Helper()
	p := func(name string) string { return filepath.Join(dir, name) }
	c := Certs{
		CA: p("ca.pem"), ServerCert: p("server.pem"), ServerKey: p("server.key"),
		ClientCert: p("client.pem"), ClientKey: p("client.key"), OtherCA: p("other-ca.pem"),
	}
	ext := p("san.ext")
	if err := os.WriteFile(ext, []byte("subjectAltName=IP:127.0.0.1,DNS:localhost\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	openssl := func(args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "openssl", args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ca := func(key, cert, cn string) {
		openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
			"-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN="+cn)
	}
	leaf := func(key, cert, cn string, extra ...string) {
		csr := cert + ".csr"
		openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
			"-keyout", key, "-out", csr, "-subj", "/CN="+cn)
		args := []string{"x509", "-req", "-in", csr, "-CA", c.CA, "-CAkey", p("ca.key"), "-CAcreateserial",
			"-out", cert, "-days", "2"}
		openssl(append(args, extra...)...)
	}
	ca(p("ca.key"), c.CA, "garssld test CA")
	ca(p("other-ca.key"), c.OtherCA, "some other CA")
	leaf(c.ServerKey, c.ServerCert, "127.0.0.1", "-extfile", ext)
	leaf(c.ClientKey, c.ClientCert, "robot-7")
	return c
}

// Publish publishes one QoS 1 message with mosquitto_pub, which returns
// once the broker has acknowledged it: a controller's command, or a
// retained message left from an earlier session.
func (b *Broker) Publish(t testing.TB, topic string, retained bool, payload string) {
	t.Helper()
	args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(b.port), "-t", topic, "-q", "1", "-m", payload}
	if retained {
		args = append(args, "-r")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "mosquitto_pub", args...).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub %v: %v\n%s", args, err, out)
	}
}
