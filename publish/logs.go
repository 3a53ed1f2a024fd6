package publish

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
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

// fold decides which occurrences of a repeating condition to log: the
// first one, the first after the condition changes, and one per
// refoldAfter while it lasts, each carrying how many were folded.
type fold struct {
	mu      sync.Mutex
	key     string
	folded  int
	lastLog time.Time
}

// note records one occurrence of key. It reports whether to log it and
// how many occurrences of the same key were not logged since the last
// line.
func (f *fold) note(key string) (logIt bool, folded int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if key != f.key || now.Sub(f.lastLog) >= refoldAfter {
		folded = f.folded
		if key != f.key {
			folded = 0
		}
		f.key, f.folded, f.lastLog = key, 0, now
		return true, folded
	}
	f.folded++
	return false, 0
}

// reset forgets the condition, so its next occurrence is logged.
func (f *fold) reset() (folded int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	folded = f.folded
	f.key, f.folded = "", 0
	return folded
}

// describeConnError turns a failed connection attempt into a sentence that
// says what to check. The underlying error goes into the log separately.
func describeConnError(err error) string {
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
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		// A TLS alert from the broker: with require_certificate it means
		// our client certificate was missing or not trusted.
		return "the broker ended the TLS handshake (" + opErr.Err.Error() + "); check mqtt.tls.cert_file and key_file against the broker's CA"
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

var pahoLogger atomic.Pointer[hclog.Logger]

// The globals are set before any client can exist, since paho reads them
// without synchronisation.
func init() {
	mqtt.ERROR = &pahoLog{level: hclog.Warn}
	mqtt.CRITICAL = &pahoLog{level: hclog.Error}
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
	logIt, folded := p.fold.note(msg)
	if !logIt {
		return
	}
	args := []any{"paho", msg}
	if folded > 0 {
		args = append(args, "repeats", folded)
	}
	(*l).Log(p.level, "mqtt library reports a problem", args...)
}
