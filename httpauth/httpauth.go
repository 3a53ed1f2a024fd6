// Package httpauth checks HTTP basic auth against an htpasswd file of
// bcrypt lines, as `htpasswd -B` writes them.
package httpauth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/crypto/bcrypt"
)

// Observer counts refused logins; metrics.View implements it.
type Observer interface{ AuthFailed() }

// Realm is what the browser shows when it asks for the password.
const Realm = "garssld"

// logEvery bounds the log lines about refused logins: one per interval,
// with how many were refused since the last.
const logEvery = 10 * time.Second

// maxCached bounds the accepted credentials remembered, so that a page's
// requests (each thumbnail, each event stream) do not each cost a bcrypt
// comparison.
const maxCached = 64

// compare is bcrypt's; tests count the comparisons.
var compare = bcrypt.CompareHashAndPassword

// Users is a loaded htpasswd file.
type Users struct {
	hashes map[string][]byte
	// dummy is compared for an unknown user, so that the answer takes as
	// long as for a known one with a wrong password; made at the highest
	// cost of the file, on first use (validating a config parses the file
	// too).
	dummy     []byte
	cost      int
	dummyOnce sync.Once
	obs       Observer
	log       hclog.Logger

	mu       sync.Mutex
	accepted map[[sha256.Size]byte]bool
	refused  int // since the last log line
	logged   time.Time
}

// Load reads an htpasswd file: "user:hash" lines with bcrypt hashes
// ($2a$, $2b$ or $2y$). Blank lines and lines starting with # are skipped.
// obs and log may be nil.
func Load(path string, obs Observer, log hclog.Logger) (*Users, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("http.auth_file: %w", err)
	}
	u, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("http.auth_file %s: %w", path, err)
	}
	u.obs = obs
	if log != nil {
		u.log = log
	}
	return u, nil
}

// Parse reads htpasswd content; Load's doc says which. Messages never
// carry a hash.
func Parse(b []byte) (*Users, error) {
	u := &Users{hashes: make(map[string][]byte), accepted: make(map[[sha256.Size]byte]bool),
		log: hclog.NewNullLogger(), cost: bcrypt.MinCost}
	sc := bufio.NewScanner(bytes.NewReader(b))
	line := 0
	for sc.Scan() {
		line++
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		user, hash, ok := strings.Cut(l, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("line %d is not user:hash", line)
		}
		c, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return nil, fmt.Errorf("line %d (user %q) is not a bcrypt hash; make it with `htpasswd -B`", line, user)
		}
		if _, dup := u.hashes[user]; dup {
			return nil, fmt.Errorf("line %d: user %q appears twice", line, user)
		}
		u.hashes[user] = []byte(hash)
		u.cost = max(u.cost, c)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(u.hashes) == 0 {
		return nil, errors.New("no user in the file; add one with `htpasswd -B <file> <user>`")
	}
	return u, nil
}

// Check reports whether user and password are right. A wrong password
// and an unknown user cost the same bcrypt comparison.
func (u *Users) Check(user, password string) bool {
	key := sha256.Sum256([]byte(user + "\x00" + password))
	u.mu.Lock()
	ok := u.accepted[key]
	u.mu.Unlock()
	if ok {
		return true
	}
	hash, known := u.hashes[user]
	if !known {
		u.dummyOnce.Do(func() {
			u.dummy, _ = bcrypt.GenerateFromPassword([]byte("not anyone's password"), u.cost)
		})
		hash = u.dummy
	}
	if err := compare(hash, []byte(password)); err != nil || !known {
		return false
	}
	u.mu.Lock()
	if len(u.accepted) >= maxCached {
		clear(u.accepted)
	}
	u.accepted[key] = true
	u.mu.Unlock()
	return true
}

// Wrap lets through requests with right credentials and answers 401 to
// the others.
func (u *Users) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if ok && u.Check(user, pass) {
			h.ServeHTTP(w, r)
			return
		}
		if ok {
			u.refuse(user, r.RemoteAddr)
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`", charset="UTF-8"`)
		http.Error(w, "garssld asks for a user name and password (http.auth_file)", http.StatusUnauthorized)
	})
}

// refuse counts and, at a bounded rate, logs a wrong user or password.
// A request without credentials (a browser's first) is not one.
func (u *Users) refuse(user, remote string) {
	if u.obs != nil {
		u.obs.AuthFailed()
	}
	u.mu.Lock()
	u.refused++
	now := time.Now()
	if now.Sub(u.logged) < logEvery {
		u.mu.Unlock()
		return
	}
	n := u.refused
	u.refused, u.logged = 0, now
	u.mu.Unlock()
	u.log.Warn("wrong user name or password for the live view", "user", user, "remote", remote, "refused", n)
}
