package publish

import (
	"testing"
	"time"
)

// TestCommandSlotsPacing: the latest command per stream is applied at once,
// then at most once per commandApplyEvery; a line is logged at once, then
// at most once per commandLogEvery, with the count received.
func TestCommandSlotsPacing(t *testing.T) {
	c := newCommandSlots()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	c.put("front", true)
	c.put("front", false)
	apply, logs, next := c.due(at(0))
	if len(apply) != 1 || apply[0] != (appliedCommand{"front", false}) {
		t.Fatalf("at 0: applied %v; want front=false, the latest", apply)
	}
	if len(logs) != 1 || logs[0].received != 2 {
		t.Fatalf("at 0: logs %v; want one line counting 2", logs)
	}
	if !next.IsZero() {
		t.Fatalf("at 0: next %v with nothing waiting", next)
	}

	c.put("front", true)
	c.put("rear", false)
	apply, _, next = c.due(at(500 * time.Millisecond))
	if len(apply) != 1 || apply[0].stream != "rear" {
		t.Fatalf("at 0.5s: applied %v; want only rear (front was applied 0.5 s ago)", apply)
	}
	if !next.Equal(at(commandApplyEvery)) {
		t.Fatalf("at 0.5s: next %v; want front's turn at %v", next, at(commandApplyEvery))
	}
	apply, logs, _ = c.due(at(commandApplyEvery))
	if len(apply) != 1 || apply[0] != (appliedCommand{"front", true}) || len(logs) != 0 {
		t.Fatalf("at 1s: applied %v, logged %v; want front=true and no line", apply, logs)
	}
	_, logs, _ = c.due(at(commandLogEvery))
	if len(logs) != 1 || logs[0].stream != "front" || logs[0].received != 1 {
		t.Fatalf("at 10s: logs %v; want front's line counting 1", logs)
	}

	c.forget(map[string]bool{"rear": true})
	c.put("rear", true)
	if apply, _, _ := c.due(at(time.Minute)); len(apply) != 1 || apply[0].stream != "rear" || len(c.slots) != 1 {
		t.Fatalf("after forgetting front: applied %v, slots %d", apply, len(c.slots))
	}
}
