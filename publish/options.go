package publish

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/config"
)

// Timing that the config does not expose.
const (
	// DefaultFlushTimeout bounds the shutdown: handing queued detections to
	// paho, publishing "stopped" and waiting for outstanding
	// acknowledgements while connected.
	DefaultFlushTimeout = 5 * time.Second
	// writeTimeout bounds one paho Publish call (which otherwise blocks up
	// to 30 s when its outbound channel is full) and every write on the
	// connection, so a stuck TCP connection is detected and replaced.
	writeTimeout = 10 * time.Second
	// connectTimeout bounds one dial plus the CONNECT/CONNACK handshake.
	connectTimeout = 10 * time.Second
	// connectRetryInterval is paho's fixed wait between failed connection
	// attempts before the first success; after that its reconnect backoff
	// (1 s doubling to MaxReconnectInterval) applies.
	connectRetryInterval = 2 * time.Second
	// disconnectQuiesce is how long Disconnect waits for the DISCONNECT
	// packet to go out.
	disconnectQuiesce = 250 * time.Millisecond
)

// Options configures a Publisher. FromConfig builds them from the daemon's
// config; the caller then sets Logger, Observer and OnSet.
type Options struct {
	// Broker is the broker URL (tcp://, mqtt://, ssl://, tls://, mqtts://,
	// ws://, wss://).
	Broker string
	// ClientID must be stable across restarts: the broker keeps the
	// session, and the file store's messages belong to it.
	ClientID string
	// Username and Password are sent when Username is not empty. Password
	// is the secret itself, already read from its file.
	Username, Password string
	// TLS configures the TLS connection for TLS schemes; nil uses the
	// system roots.
	TLS *tls.Config
	// QoS of detections (0, 1 or 2). Status and state messages always use
	// QoS 1.
	QoS byte
	// TopicPrefix and NodeID start every topic: <prefix>/<node>/….
	TopicPrefix, NodeID string
	// Version is published in the status payload.
	Version string
	// StoreDir holds paho's file store; New creates it.
	StoreDir string
	// MaxPending bounds detections queued or held by paho (at least 1,
	// and below paho's 65535 message ids).
	MaxPending int
	// MaxReconnectInterval caps paho's reconnect backoff.
	MaxReconnectInterval time.Duration
	// FlushTimeout bounds the shutdown; 0 means DefaultFlushTimeout.
	FlushTimeout time.Duration
	// RunID names this run in the status payload and its last will, so
	// that another process publishing as the same node can be told apart
	// from a leftover of this node's earlier run.
	RunID string
	// VerifyDelivery subscribes to the node's own detections and counts
	// those that do not come back within ConfirmWithin; false unsubscribes
	// (the persistent session would keep the subscription).
	VerifyDelivery bool
	ConfirmWithin  time.Duration
	// MaxMessageBytes bounds a detection's payload; a larger one is
	// dropped (DropTooLarge). 0 means no bound.
	MaxMessageBytes int

	// Logger receives the publisher's log lines; nil discards them.
	Logger hclog.Logger
	// Observer receives measurements; nil means NopObserver.
	Observer Observer
	// OnSet is called with each applied command from a set topic, from a
	// goroutine owned by Run, one call at a time. It must return promptly
	// (it holds up later commands and Run's return); nil ignores commands
	// after counting them.
	OnSet func(stream string, enabled bool)
	// Heartbeat, if set, is called by Run's loop on every turn (at least
	// once a second) until it begins to shut down, from Run's goroutine;
	// it must not block. A loop that stops calling it is stuck (a paho
	// call that never returns), which the daemon's watchdog acts on.
	Heartbeat func()

	// newStore replaces paho's file store in tests.
	newStore func(dir string) mqtt.Store
}

// maxMessageIDs is paho's message id space; max_pending must leave room
// for status, state and subscribe packets.
const maxMessageIDs = 65535

func (o *Options) check() error {
	var errs []error
	if _, err := url.Parse(o.Broker); err != nil || o.Broker == "" {
		errs = append(errs, fmt.Errorf("broker %q is not a URL", redactBroker(o.Broker)))
	}
	if o.ClientID == "" {
		errs = append(errs, errors.New("client id is empty; the file store needs a stable one"))
	}
	if o.QoS > 2 {
		errs = append(errs, fmt.Errorf("qos %d is not 0, 1 or 2", o.QoS))
	}
	if o.TopicPrefix == "" || o.NodeID == "" {
		errs = append(errs, errors.New("topic prefix and node id must not be empty"))
	}
	if o.StoreDir == "" {
		errs = append(errs, errors.New("store dir is empty"))
	}
	if o.MaxPending < 1 || o.MaxPending > maxMessageIDs-1000 {
		errs = append(errs, fmt.Errorf("max pending %d is out of range; use 1 to %d", o.MaxPending, maxMessageIDs-1000))
	}
	if o.MaxReconnectInterval <= 0 {
		errs = append(errs, fmt.Errorf("max reconnect interval %s must be greater than 0", o.MaxReconnectInterval))
	}
	if o.VerifyDelivery && o.ConfirmWithin <= 0 {
		errs = append(errs, fmt.Errorf("confirm within %s must be greater than 0", o.ConfirmWithin))
	}
	if o.MaxMessageBytes < 0 {
		errs = append(errs, fmt.Errorf("max message bytes %d must not be negative", o.MaxMessageBytes))
	}
	if o.FlushTimeout < 0 {
		errs = append(errs, fmt.Errorf("flush timeout %s must not be negative", o.FlushTimeout))
	}
	return errors.Join(errs...)
}

// FromConfig builds Options from a loaded config: it reads the password
// file and the TLS files, so that their contents never travel with the
// config. version goes into the status payload.
func FromConfig(cfg *config.Config, version string) (Options, error) {
	m := cfg.MQTT
	password, err := m.Password()
	if err != nil {
		return Options{}, err
	}
	tlsConf, err := tlsConfig(m.TLS)
	if err != nil {
		return Options{}, err
	}
	return Options{
		Broker:               m.Broker,
		ClientID:             m.ClientID,
		Username:             m.Username,
		Password:             password,
		TLS:                  tlsConf,
		QoS:                  byte(m.QoS),
		TopicPrefix:          m.TopicPrefix,
		NodeID:               cfg.NodeID,
		Version:              version,
		StoreDir:             m.StoreDir,
		MaxPending:           m.MaxPending,
		MaxReconnectInterval: m.MaxReconnectInterval,
		VerifyDelivery:       m.VerifyDelivery,
		ConfirmWithin:        m.ConfirmWithin,
		MaxMessageBytes:      m.MaxMessageBytes,
	}, nil
}

// tlsConfig loads the CA bundle and the client key pair that t names; nil
// means the system roots and no client certificate.
func tlsConfig(t *config.TLS) (*tls.Config, error) {
	if t == nil {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read mqtt.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt.tls.ca_file %s holds no PEM certificate", t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load mqtt.tls.cert_file and key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// isTLSBroker reports whether a broker URL's scheme uses TLS.
func isTLSBroker(b string) bool {
	u, err := url.Parse(b)
	return err == nil && slices.Contains([]string{"ssl", "tls", "mqtts", "wss"}, u.Scheme)
}

// redactBroker drops any user information from a broker URL for messages.
// The config refuses credentials in the URL, but Options can be built in
// code.
func redactBroker(b string) string {
	u, err := url.Parse(b)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User = nil
	return u.String()
}
