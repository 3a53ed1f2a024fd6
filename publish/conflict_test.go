package publish

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/waittest"
)

// TestDuplicateNode: two publishers with one node_id (and so one client
// id) kick each other off the broker; both say so, naming the other's
// run id, within 30 s, and show it as a problem.
func TestDuplicateNode(t *testing.T) {
	noLeaks(t)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	var hs []*harness
	for _, run := range []string{"01JD5Z8Q3K9VRUNAAAAAAAAAAA", "01JD5Z8Q3K9VRUNBBBBBBBBBBB"} {
		o := testOptions(t, b.URL())
		o.RunID = run
		h := newHarness(t, o)
		h.p.SetStreams([]string{"front"})
		h.run(t)
		hs = append(hs, h)
	}
	for i, h := range hs {
		other := hs[1-i].opts.RunID
		waittest.For(t, "publisher "+h.opts.RunID+" to name the other run", 30*time.Second, func() bool {
			for _, l := range h.logs.lines("another process publishes as this node") {
				if l["other_run_id"] == other && l["node"] == testNode {
					return true
				}
			}
			return false
		})
		waittest.For(t, "publisher "+h.opts.RunID+" to suspect the client id", 30*time.Second, func() bool {
			return len(h.logs.lines("another client may be using client id garssld-robot-7")) == 1
		})
		if pr := h.p.Problems(); len(pr) != 1 || !strings.Contains(pr[0], other) {
			t.Errorf("publisher %s: problems %q; want one naming %s", h.opts.RunID, pr, other)
		}
	}
}

// TestOwnLeftoverIsNoConflict: the retained online of this node's earlier
// run (as a SIGKILL leaves it when the broker was away too) is no
// conflict.
func TestOwnLeftoverIsNoConflict(t *testing.T) {
	noLeaks(t)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	publishRaw(t, b, testPrefix+"/"+testNode+"/status", true,
		`{"state":"online","node":"robot-7","run_id":"01JD5Z8Q3K9VEARLIERRUN0000","version":"test-1.0","streams":["front"]}`)
	sub := mosquittotest.Subscribe(t, b.URL(), mosquittotest.SubscriberConfig{
		ClientID: "status-watch", QoS: 1, Topics: []string{testPrefix + "/" + testNode + "/status"},
	})
	h := newHarness(t, testOptions(t, b.URL()))
	h.p.SetStreams([]string{"front"})
	h.run(t)
	sub.WaitFor(t, "this run's online", 20*time.Second, func(m []mosquittotest.Message) bool {
		return len(m) > 0 && strings.Contains(string(m[len(m)-1].Payload), testRunID)
	})
	waittest.For(t, "the earlier run to be read", 10*time.Second, func() bool {
		return len(h.logs.lines("the retained status says another run of this node is online")) == 1
	})
	time.Sleep(time.Second) // what the watch would see comes at once
	if pr := h.p.Problems(); len(pr) != 0 {
		t.Errorf("problems %q after an own leftover", pr)
	}
	if n := len(h.logs.lines("another process publishes as this node")); n != 0 {
		t.Errorf("%d conflict lines after an own leftover", n)
	}
}

// doneToken is a completed paho token with a given error.
type doneToken struct{ err error }

func (doneToken) Wait() bool                     { return true }
func (doneToken) WaitTimeout(time.Duration) bool { return true }
func (doneToken) Done() <-chan struct{}          { c := make(chan struct{}); close(c); return c }
func (d doneToken) Error() error                 { return d.err }

// TestStaleSubscribeFailureIsQuiet: a SUBSCRIBE that failed because its
// connection went down is not reported once a newer connection subscribed
// again; only a failure of the current connection's request is.
func TestStaleSubscribeFailureIsQuiet(t *testing.T) {
	h := newHarness(t, testOptions(t, "tcp://127.0.0.1:1"))
	h.p.subs = []subscription{{tok: doneToken{errors.New("connection lost before Subscribe completed")}, gen: 1}}
	h.p.checkSubscriptions(2)
	if n := len(h.logs.lines("cannot subscribe")); n != 0 {
		t.Errorf("%d warnings for a stale subscription", n)
	}
	h.p.subs = []subscription{{tok: doneToken{errors.New("not connected")}, gen: 2}}
	h.p.checkSubscriptions(2)
	if n := len(h.logs.lines("cannot subscribe")); n != 1 {
		t.Errorf("%d warnings for the current connection's failed subscription; want 1", n)
	}
}
