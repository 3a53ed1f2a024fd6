package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		code    int
		wantOut string
		wantErr string
	}{
		{"help", []string{"--help"}, 0, "SIMULATOR", ""},
		{"unknown flag", []string{"--bogus"}, 2, "", "--help"},
		{"stray argument", []string{"serve"}, 2, "", "unexpected argument"},
		{"bad rate", []string{"--error-rate", "2"}, 2, "", "--error-rate"},
		{"bad down window", []string{"--down", "soon"}, 2, "", "--down"},
		{"bad log level", []string{"--log-level", "loud"}, 2, "", "--log-level"},
		{"missing truth file", []string{"--truth", filepath.Join(t.TempDir(), "none.json")}, 2, "", "--truth"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stdout.String(), tc.wantOut) || !strings.Contains(stderr.String(), tc.wantErr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d mentioning %q / %q",
					code, stdout.String(), stderr.String(), tc.code, tc.wantOut, tc.wantErr)
			}
		})
	}
}

// TestServeAndShutdown starts the binary's main loop on a free port, reads
// the announced address, talks to it and stops it as a signal would.
func TestServeAndShutdown(t *testing.T) {
	portFile := filepath.Join(t.TempDir(), "port")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdoutR, stdoutW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--port-file", portFile, "--time-scale", "0", "--log-level", "error"}, stdoutW, io.Discard)
		stdoutW.Close()
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	line, err := bufio.NewReader(stdoutR).ReadString('\n')
	if err != nil {
		t.Fatalf("read announcement: %v", err)
	}
	go io.Copy(io.Discard, stdoutR)
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if !ok {
		t.Fatalf("first line %q does not announce the address", line)
	}
	port, err := os.ReadFile(portFile)
	if err != nil {
		t.Fatalf("port file: %v", err)
	}
	if !strings.HasSuffix(url, ":"+strings.TrimSpace(string(port))) {
		t.Fatalf("port file says %q, announcement %q", port, url)
	}
	if _, err := strconv.Atoi(strings.TrimSpace(string(port))); err != nil {
		t.Fatalf("port file %q: %v", port, err)
	}
	resp, err := http.Get(url + "/v1/models")
	if err != nil {
		t.Fatalf("GET /v1/models: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Qwen/Qwen2.5-Omni-7B") {
		t.Fatalf("/v1/models: %d %s", resp.StatusCode, body)
	}

	cancel()
	select {
	case code := <-done:
		done <- code // for the cleanup
		if code != 0 {
			t.Fatalf("exit code %d after shutdown", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop after its context ended")
	}
}
