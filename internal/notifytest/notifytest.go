// Package notifytest stands in for systemd's notification socket
// (NOTIFY_SOCKET) in tests: a unixgram socket read the way systemd reads
// it, at once, since a sender to a full socket blocks.
package notifytest

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// quiet is how long a socket must stay silent for Quiet and All. Senders
// write synchronously, so a notification sent before the call is already
// in the socket; this only covers the reading goroutine's delay.
const quiet = 100 * time.Millisecond

// Socket is a listening notification socket.
type Socket struct{ msgs chan string }

// Listen creates the socket, points NOTIFY_SOCKET at it for the rest of
// the test (which therefore cannot run in parallel), and closes it when
// the test ends. Child processes started after it inherit NOTIFY_SOCKET.
func Listen(t testing.TB) *Socket {
	t.Helper()
	// Socket paths are limited to 108 bytes; t.TempDir's can be longer.
	dir, err := os.MkdirTemp("", "garssl-notify")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("NOTIFY_SOCKET", path)
	s := &Socket{msgs: make(chan string, 1000)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return // closed by the cleanup
			}
			select {
			case s.msgs <- string(buf[:n]):
			default:
				t.Errorf("more than %d notifications unread", cap(s.msgs))
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return s
}

// Next waits for the next notification, up to 30 s.
func (s *Socket) Next(t testing.TB) string {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no notification arrived within 30s")
		return ""
	}
}

// Quiet fails the test if a notification comes; when says in what
// situation none should.
func (s *Socket) Quiet(t testing.TB, when string) {
	t.Helper()
	select {
	case m := <-s.msgs:
		t.Errorf("%s: unexpected notification %q", when, m)
	case <-time.After(quiet):
	}
}

// All returns the notifications that came, in order, once none has for a
// moment.
func (s *Socket) All() []string {
	var all []string
	for {
		select {
		case m := <-s.msgs:
			all = append(all, m)
		case <-time.After(quiet):
			return all
		}
	}
}
