package sdnotify_test

import (
	"context"
	"time"

	"github.com/garssl/garssld/sdnotify"
)

// A stream supervisor beats while it captures and while it waits to
// reconnect, so a dead camera never trips the watchdog; a supervisor stuck
// in a call that never returns stops beating, and systemd restarts garssld.
func ExampleWatchdog() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wd, err := sdnotify.NewWatchdog(sdnotify.WatchdogConfig{}) // reads WATCHDOG_USEC
	if err != nil {
		return // malformed WATCHDOG_USEC: the daemon reports it and exits
	}
	go wd.Run(ctx) // the owner waits for it in real code

	hb := wd.Register("stream front")
	defer hb.Unregister()
	tick := time.NewTicker(wd.BeatEvery())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			hb.Beat() // also while backing off before a reconnect
		}
	}
}
