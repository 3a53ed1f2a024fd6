package daemon

import (
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/garssl/garssld/health"
	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/waittest"
)

// TestBrokerSideDropsInReadyz: what the broker acknowledges but does not
// deliver shows in /readyz (which `garssld status` prints) within 15 s:
// a read-denied ACL as a warning (still ready), a message_size_limit
// applied after echoes had worked as a reason (503); both counted.
func TestBrokerSideDropsInReadyz(t *testing.T) {
	for _, tc := range []struct {
		name    string
		acl     string
		limit   bool // restart the broker with message_size_limit 512 once echoes work
		warning string
		reason  string
	}{
		{name: "read denied", acl: "topic write garssl/#\ntopic read garssl/+/+/set\n",
			warning: "delivery cannot be verified: the broker may deny reading or writing garssl/" + testNode + "/+/detections"},
		{name: "message size limit", limit: true, reason: "mqtt: the broker drops detections"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			clip := makeClip(t, dir, "clip.mp4", 4)
			b := mosquittotest.Start(t, mosquittotest.Config{ACL: tc.acl, Persistence: true})
			s := startSim(t, 0)
			r := startDaemon(t, configText(setup{broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store"),
				extraMQTT: []string{`confirm_within = "2s"`}},
				streamSpec{name: "front", input: clip, extra: []string{"loop = true"}}), nil, testHooks{})
			unconfirmed := func() float64 { return r.scrape(t).sum("garssl_mqtt_unconfirmed_total", nil) }
			if tc.limit {
				waittest.For(t, "detections", 30*time.Second, func() bool {
					return r.scrape(t).sum("garssl_mqtt_messages_published_total", map[string]string{"kind": "detection"}) >= 3
				})
				time.Sleep(3 * time.Second) // past confirm_within: the echoes came back
				if n := unconfirmed(); n != 0 {
					t.Fatalf("%v unconfirmed on a healthy broker", n)
				}
				b.Restart(mosquittotest.Config{Persistence: true, MessageSizeLimit: 512})
			}
			start := time.Now()
			waittest.For(t, "/readyz to name the problem", 15*time.Second, func() bool {
				code, _ := r.get(t, health.PathReadyz)
				rep := r.ready(t)
				if tc.warning != "" {
					return code == http.StatusOK && slices.Contains(rep.Warnings, tc.warning)
				}
				return code == http.StatusServiceUnavailable && slices.ContainsFunc(rep.Reasons, func(s string) bool {
					return strings.Contains(s, tc.reason)
				})
			})
			t.Logf("named after %s: %+v", time.Since(start).Round(time.Millisecond), r.ready(t))
			if n := unconfirmed(); n == 0 {
				t.Error("garssl_mqtt_unconfirmed_total is 0")
			}
		})
	}
}
