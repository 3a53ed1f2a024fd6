package publish

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/waittest"
)

// BenchmarkDeliveryEcho measures what the delivery echo costs on a
// broker on the same host: the CPU time of this process (the publisher)
// and of mosquitto per detection, with verify_delivery off and on.
// Compare the two in one run:
//
//	go test -run '^$' -bench DeliveryEcho -benchtime 5000x ./publish/
func BenchmarkDeliveryEcho(b *testing.B) {
	for _, verify := range []bool{false, true} {
		b.Run(fmt.Sprintf("verify=%t", verify), func(b *testing.B) {
			br := mosquittotest.Start(b, mosquittotest.Config{})
			o := Options{
				Broker: br.URL(), ClientID: "bench", QoS: 1, TopicPrefix: testPrefix, NodeID: testNode,
				Version: "bench", StoreDir: b.TempDir(), MaxPending: 60000, MaxReconnectInterval: time.Second,
				RunID: testRunID, VerifyDelivery: verify, ConfirmWithin: 10 * time.Second,
			}
			obs := newRecorder()
			o.Observer = obs
			p, err := New(o)
			if err != nil {
				b.Fatal(err)
			}
			p.SetStreams([]string{"front"})
			stop := runFor(b, p)
			defer stop()
			waittest.For(b, "connected", 20*time.Second, p.Connected)
			payloads := make([][]byte, b.N)
			for i := range payloads {
				payloads[i] = detectionPayload(b, "front", uint64(i+1))
			}
			cpu0, broker0 := selfCPU(), procCPU(b, br.PID())
			b.ResetTimer()
			for i, pl := range payloads {
				p.Detection("front", uint64(i+1), pl)
			}
			waittest.For(b, "all acknowledged", 5*time.Minute, func() bool {
				return obs.get(func(r *recorder) int { return r.published[KindDetection] }) == b.N
			})
			b.StopTimer()
			b.ReportMetric(float64(selfCPU()-cpu0)/float64(b.N), "publisher-cpu-ns/op")
			b.ReportMetric(float64(procCPU(b, br.PID())-broker0)/float64(b.N), "broker-cpu-ns/op")
			if verify {
				if n := obs.get(func(r *recorder) int { return r.unconfirmed }); n != 0 {
					b.Errorf("%d unconfirmed", n)
				}
			}
		})
	}
}

func runFor(b *testing.B, p *Publisher) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return func() { cancel(); <-done }
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is a process's user plus system time from /proc (clock ticks of
// 10 ms).
func procCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
