package publish

import (
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// subscription is a SUBSCRIBE awaiting its SUBACK, from connection gen.
type subscription struct {
	tok mqtt.Token
	gen uint64
}

// subscribe asks, after connection gen came up, for the set commands, the
// node's status (to tell another process using this node apart) and, with
// VerifyDelivery, the echo of its detections; all at QoS 0, so that the
// broker queues nothing for us while we are away (a command sent during
// an outage must not take effect hours later). Without VerifyDelivery
// the detections filter is unsubscribed: the persistent session would
// keep it from an earlier run.
func (p *Publisher) subscribe(gen uint64) {
	filters := map[string]byte{p.topics.setFilter(): 0, p.topics.status(): 0}
	if p.verify != nil {
		filters[p.topics.detectionsFilter()] = 0
	} else {
		p.client.Unsubscribe(p.topics.detectionsFilter())
	}
	tok := p.client.SubscribeMultiple(filters, p.onMessage)
	p.mu.Lock()
	p.subs = append(p.subs, subscription{tok: tok, gen: gen})
	if p.statusSince.IsZero() {
		p.statusSince = time.Now()
	}
	p.mu.Unlock()
}

// checkSubscriptions looks at the SUBACKs that arrived, without waiting.
// A request from an earlier connection is forgotten whatever its result:
// the current connection subscribed again, so its failure would be a
// stale warning.
func (p *Publisher) checkSubscriptions(gen uint64) {
	p.mu.Lock()
	subs := p.subs
	p.subs = nil
	p.mu.Unlock()
	var keep []subscription
	for _, s := range subs {
		select {
		case <-s.tok.Done():
		default:
			if s.gen == gen {
				keep = append(keep, s)
			}
			continue
		}
		if s.gen != gen {
			continue
		}
		p.subscribed(s.tok)
	}
	p.mu.Lock()
	p.subs = append(keep, p.subs...)
	p.mu.Unlock()
}

func (p *Publisher) subscribed(tok mqtt.Token) {
	if err := tok.Error(); err != nil {
		p.log.Warn("cannot subscribe to the set topics; commands are not received until the next reconnect",
			"topic", p.topics.setFilter(), "error", err)
		if p.verify != nil {
			p.verify.subscribed(false)
		}
		return
	}
	st, ok := tok.(*mqtt.SubscribeToken)
	if !ok {
		return
	}
	for topic, code := range st.Result() {
		refused := code == 0x80
		switch topic {
		case p.topics.setFilter():
			if refused {
				p.log.Warn("the broker refused the subscription to the set topics; check its ACL", "topic", topic)
			}
		case p.topics.status():
			if refused {
				p.log.Warn("the broker refused the subscription to this node's status; another process using this node_id cannot be detected", "topic", topic)
				p.conflicts.startRead()
			}
		case p.topics.detectionsFilter():
			if p.verify != nil {
				p.verify.subscribed(!refused)
			}
		}
	}
}

// statusRead reports whether the retained status was read, or waited for
// long enough, since the first subscription at since.
func (p *Publisher) statusRead(since time.Time) bool {
	select {
	case <-p.conflicts.readAtStart():
		return true
	default:
	}
	if since.IsZero() || time.Since(since) < statusReadWait {
		return false
	}
	p.conflicts.startRead()
	return true
}

// Warnings name what degrades delivery without stopping it, for /readyz.
func (p *Publisher) Warnings() []string {
	if p.verify == nil {
		return nil
	}
	if w, _ := p.verify.status(); w != "" {
		return []string{w}
	}
	return nil
}

// Problems name why delivery fails now, for /readyz (503).
func (p *Publisher) Problems() []string {
	var out []string
	if p.verify != nil {
		if _, pr := p.verify.status(); pr != "" {
			out = append(out, pr)
		}
	}
	if pr := p.conflicts.problem(time.Now()); pr != "" {
		out = append(out, pr)
	}
	return out
}
