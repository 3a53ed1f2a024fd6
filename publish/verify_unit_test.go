package publish

import (
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// TestVerifierForgetsGarsslsOwnDrops: a detection garssld dropped itself
// after handing it over (paho refused it, a QoS 0 token failed, the store
// pruned it) is counted where it was dropped, never again as unconfirmed.
func TestVerifierForgetsGarsslsOwnDrops(t *testing.T) {
	obs := newRecorder()
	v := newVerifier(time.Second, "garssl/robot/+/detections", hclog.NewNullLogger(), obs)
	t0 := time.Now()
	v.subscribed(true)
	v.connected(true, t0)
	kept := v.sentDetection("garssl/robot/front/detections", []byte(`{"seq":1}`), t0)
	gone := v.sentDetection("garssl/robot/front/detections", []byte(`{"seq":2}`), t0)
	if kept == 0 || gone == 0 {
		t.Fatal("an enabled verifier returned no echo key")
	}
	v.forget([]uint64{gone, 0})
	v.check(t0.Add(2 * time.Second))
	if n := obs.get(func(r *recorder) int { return r.unconfirmed }); n != 1 {
		t.Fatalf("unconfirmed %d, want 1 (only the detection nobody dropped)", n)
	}
}
