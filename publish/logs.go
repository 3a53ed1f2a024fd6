package publish

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/hashicorp/go-hclog"
)

// refoldAfter is how long a repeated condition stays quiet before it is
// logged again, with the number of repeats.
const refoldAfter = 5 * time.Minute

// fold decides which occurrences of repeating conditions to log: the
// first of each, then one per refoldAfter while it lasts, each carrying
// how many were folded since the last line. reset starts afresh, e.g.
// after a successful connection.
type fold struct {
	mu   sync.Mutex
	seen map[string]*foldEntry
}

type foldEntry struct {
	folded  int
	lastLog time.Time
}

// maxFoldKeys bounds the keys remembered; beyond it all are forgotten,
// which at worst logs a line again.
const maxFoldKeys = 256

// note records one occurrence of key. It reports whether to log it and
// how many occurrences of key were not logged since its last line.
func (f *fold) note(key string) (logIt bool, folded int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	e := f.seen[key]
	if e == nil {
		if f.seen == nil || len(f.seen) >= maxFoldKeys {
			f.seen = make(map[string]*foldEntry)
		}
		f.seen[key] = &foldEntry{lastLog: now}
		return true, 0
	}
	if now.Sub(e.lastLog) >= refoldAfter {
		folded, e.folded, e.lastLog = e.folded, 0, now
		return true, folded
	}
	e.folded++
	return false, 0
}

// reset forgets every condition, so the next occurrence of each is logged.
func (f *fold) reset() {
	f.mu.Lock()
	f.seen = nil
	f.mu.Unlock()
}

// describeConnError turns a failed connection attempt into a sentence that
// says what to check. The underlying error goes into the log separately.
func describeConnError(err error, tlsScheme bool) string {
	var (
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		opErr     *net.OpError
		dnsErr    *net.DNSError
		recHdr    tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword), errors.Is(err, packets.ErrorRefusedNotAuthorised):
		return "the broker refused the credentials; check mqtt.username and mqtt.password_file, and the broker's password file and ACL"
	case errors.Is(err, packets.ErrorRefusedIDRejected):
		return "the broker rejected the client id; check mqtt.client_id"
	case errors.Is(err, packets.ErrorRefusedServerUnavailable):
		return "the broker answered that it is unavailable"
	case errors.Is(err, packets.ErrorRefusedBadProtocolVersion):
		return "the broker does not speak MQTT 3.1.1"
	case errors.As(err, &unknownCA):
		return "the broker's certificate is not signed by a trusted CA; check mqtt.tls.ca_file"
	case errors.As(err, &hostErr):
		return "the broker's certificate is not valid for this host name; use the name the certificate was issued for in mqtt.broker"
	case errors.As(err, &invalid):
		return "the broker's certificate is invalid (" + invalid.Error() + ")"
	case errors.As(err, &recHdr):
		return "the broker does not speak TLS on this port; use tcp:// or the broker's TLS port"
	case tlsScheme && (errors.As(err, &opErr) && opErr.Op == "remote error" || closedEarly(err)):
		// A TLS alert, or with TLS 1.3 (where the broker checks the client
		// certificate after the client thinks the handshake is done) a
		// reset: with require_certificate our certificate was missing or
		// not trusted.
		return "the broker ended the TLS session before answering CONNECT; check mqtt.tls.cert_file and key_file against the broker's CA"
	case closedEarly(err):
		return "the broker closed the connection before answering CONNECT; if it expects TLS on this port, use ssl://"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused; is the broker running and listening on this port?"
	case errors.As(err, &dnsErr):
		return "cannot resolve the broker's host name"
	case isTimeout(err):
		return "timed out; is the broker reachable?"
	default:
		return "cannot connect"
	}
}

func closedEarly(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// pahoLog adapts paho's package-level ERROR and CRITICAL loggers to hclog.
// They are globals shared by every client in the process, so the adapter
// is installed once and writes to the logger of the most recently created
// Publisher. Repeats of one line are folded: paho prints the same error
// on every reconnect attempt.
type pahoLog struct {
	level hclog.Level
	fold  fold
}

var (
	pahoLogger   atomic.Pointer[hclog.Logger]
	pahoError    = &pahoLog{level: hclog.Warn}
	pahoCritical = &pahoLog{level: hclog.Error}
)

// The globals are set before any client can exist, since paho reads them
// without synchronisation.
func init() {
	mqtt.ERROR = pahoError
	mqtt.CRITICAL = pahoCritical
}

// resetPahoFolds logs paho's next lines again, e.g. after a connection
// came up, so that a new outage is visible.
func resetPahoFolds() {
	pahoError.fold.reset()
	pahoCritical.fold.reset()
}

func setPahoLogger(l hclog.Logger) { pahoLogger.Store(&l) }

func (p *pahoLog) Println(v ...interface{}) { p.emit(strings.TrimSpace(fmt.Sprintln(v...))) }

func (p *pahoLog) Printf(format string, v ...interface{}) {
	p.emit(strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func (p *pahoLog) emit(msg string) {
	l := pahoLogger.Load()
	if l == nil {
		return
	}
	logIt, folded := p.fold.note(withoutDigits(msg))
	if !logIt {
		return
	}
	args := []any{"paho", msg}
	if folded > 0 {
		args = append(args, "repeats", folded)
	}
	(*l).Log(p.level, "mqtt library reports a problem", args...)
}

// withoutDigits is msg with digits replaced: paho's lines differ between
// attempts only in ports and message ids, and fold on the rest.
func withoutDigits(msg string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return '#'
		}
		return r
	}, msg)
}
