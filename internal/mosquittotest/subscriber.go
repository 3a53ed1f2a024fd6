package mosquittotest

import (
	"crypto/tls"
	"slices"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Message is one message a Subscriber received.
type Message struct {
	Topic     string
	Payload   []byte
	Retained  bool
	Duplicate bool
	// Received is when the subscriber's handler got the message, for
	// latency measurements from the broker's delivery on.
	Received time.Time
}

// SubscriberConfig configures a test subscriber.
type SubscriberConfig struct {
	// ClientID names the session; required with Persistent.
	ClientID string
	// Persistent keeps the session on the broker (clean session off), so
	// QoS 1 messages published while the subscriber is away are queued for
	// it.
	Persistent bool
	// QoS of the subscriptions.
	QoS byte
	// Topics are subscribed on every (re)connect.
	Topics             []string
	Username, Password string
	TLS                *tls.Config
}

// Subscriber collects every message on its topics. It reconnects by
// itself (every second at most) across broker restarts.
type Subscriber struct {
	client mqtt.Client
	mu     sync.Mutex
	msgs   []Message
}

// Subscribe connects a subscriber and waits (up to 30 s) for its first
// subscription. It disconnects at t.Cleanup, or earlier with Close.
func Subscribe(t testing.TB, brokerURL string, cfg SubscriberConfig) *Subscriber {
	t.Helper()
	s := &Subscriber{}
	subscribed := make(chan struct{}, 1)
	opts := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(cfg.ClientID).
		SetCleanSession(!cfg.Persistent).SetProtocolVersion(4).
		SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(200 * time.Millisecond).SetMaxReconnectInterval(time.Second).
		SetOrderMatters(false).
		SetUsername(cfg.Username).SetPassword(cfg.Password).
		SetDefaultPublishHandler(s.handle).
		SetOnConnectHandler(func(c mqtt.Client) {
			filters := make(map[string]byte, len(cfg.Topics))
			for _, topic := range cfg.Topics {
				filters[topic] = cfg.QoS
			}
			tok := c.SubscribeMultiple(filters, s.handle)
			go func() {
				// Bounded: paho completes or fails the token when the
				// connection goes.
				if tok.WaitTimeout(30*time.Second) && tok.Error() == nil {
					select {
					case subscribed <- struct{}{}:
					default:
					}
				}
			}()
		})
	if cfg.TLS != nil {
		opts.SetTLSConfig(cfg.TLS)
	}
	s.client = mqtt.NewClient(opts)
	s.client.Connect()
	t.Cleanup(s.Close)
	select {
	case <-subscribed:
	case <-time.After(30 * time.Second):
		t.Fatalf("mosquittotest: subscriber %q did not subscribe within 30s", cfg.ClientID)
	}
	return s
}

func (s *Subscriber) handle(_ mqtt.Client, m mqtt.Message) {
	received := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, Message{Topic: m.Topic(), Payload: slices.Clone(m.Payload()), Retained: m.Retained(), Duplicate: m.Duplicate(), Received: received})
}

// Messages returns a copy of what was received so far, in arrival order.
func (s *Subscriber) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// On returns the messages received on topic.
func (s *Subscriber) On(topic string) []Message {
	var out []Message
	for _, m := range s.Messages() {
		if m.Topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// WaitFor polls cond over the received messages until it holds or timeout
// passes, then fails the test naming what.
func (s *Subscriber) WaitFor(t testing.TB, what string, timeout time.Duration, cond func([]Message) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond(s.Messages()) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Close disconnects; the persistent session, if any, stays on the broker.
func (s *Subscriber) Close() { s.client.Disconnect(250) }

// Connected reports whether the subscriber's connection is up.
func (s *Subscriber) Connected() bool { return s.client.IsConnectionOpen() }
