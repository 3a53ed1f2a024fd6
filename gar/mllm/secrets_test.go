package mllm

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSecretsStayOutOfLogsErrorsAndLabels(t *testing.T) {
	const token, password = "sk-very-secret-token", "hunter2"
	keyFile := filepath.Join(t.TempDir(), "mllm.key")
	if err := os.WriteFile(keyFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	failing, _ := testServer(t, fail(http.StatusInternalServerError, "boom"))
	withPassword := strings.Replace(failing, "http://", "http://garssl:"+password+"@", 1)
	deadWithPassword := strings.Replace(deadEndpoint(t), "http://", "http://garssl:"+password+"@", 1)

	h := newHarness(t, Config{
		Endpoints:  []string{withPassword, deadWithPassword},
		APIKeyFile: keyFile,
		Timeout:    time.Second,
		Breaker:    BreakerConfig{ConsecutiveFailures: 1, OpenFor: time.Minute},
	})
	var errs []string
	for range 3 {
		_, err := h.client.Complete(context.Background(), simpleRequest("n/s/1/locate"))
		if err == nil {
			t.Fatal("Complete succeeded")
		}
		errs = append(errs, err.Error())
	}
	var labels []string
	for _, st := range h.client.States() {
		labels = append(labels, st.Endpoint)
	}
	h.obs.mu.Lock()
	for _, r := range h.obs.requests {
		labels = append(labels, r.endpoint)
	}
	for ep := range h.obs.states {
		labels = append(labels, ep)
	}
	h.obs.mu.Unlock()

	everything := strings.Join(append(append(errs, labels...), h.logs.String()), "\n")
	for _, secret := range []string{token, password} {
		if strings.Contains(everything, secret) {
			t.Errorf("%q leaked:\n%s", secret, everything)
		}
	}
	// Make sure the checks above looked at something.
	if !strings.Contains(everything, "circuit breaker state changed") || !strings.Contains(everything, "xxxxx@127.0.0.1") {
		t.Errorf("expected logs and redacted endpoints, got:\n%s", everything)
	}
}
