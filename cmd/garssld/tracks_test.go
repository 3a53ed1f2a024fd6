package main

import (
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/track"
)

// trackLists decodes the track lists in msgs, with their positions.
func trackLists(t *testing.T, msgs []mosquittotest.Message) (lists []track.List, at []int) {
	t.Helper()
	for i, m := range msgs {
		if m.Topic != "garssl/robot-c/front/tracks" {
			continue
		}
		var l track.List
		if err := json.Unmarshal(m.Payload, &l); err != nil {
			t.Fatalf("track list %s: %v", m.Payload, err)
		}
		lists, at = append(lists, l), append(at, i)
	}
	return lists, at
}

func retainedList(t *testing.T, b *mosquittotest.Broker) track.List {
	t.Helper()
	sub := mosquittotest.Subscribe(t, b.URL(), mosquittotest.SubscriberConfig{
		ClientID: fmt.Sprintf("late-%d", time.Now().UnixNano()), QoS: 1, Topics: []string{"garssl/robot-c/front/tracks"}})
	defer sub.Close()
	sub.WaitFor(t, "the retained track list", 30*time.Second, func(m []mosquittotest.Message) bool { return len(m) > 0 })
	lists, _ := trackLists(t, sub.Messages())
	return lists[0]
}

// TestKilledRunLeavesNoStaleTracks: a daemon killed with SIGKILL leaves
// its tracks retained (it could not end them); the next run publishes an
// empty list before its first detection, so no node keeps a source the
// crash left "on" (frigate#236).
func TestKilledRunLeavesNoStaleTracks(t *testing.T) {
	dir := t.TempDir()
	clip := runClip(t, dir)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	sub := mosquittotest.Subscribe(t, b.URL(), mosquittotest.SubscriberConfig{
		ClientID: "kill-tracks", QoS: 1, Topics: []string{"garssl/robot-c/front/tracks", "garssl/robot-c/front/detections"}})
	cfg := runConfig(t, dir, b.URL(), omnisimEndpoint(t), clip)

	first := startChild(t, dir, "run", "--config", cfg)
	first.httpAddr(t)
	sub.WaitFor(t, "a confirmed track", 60*time.Second, func(m []mosquittotest.Message) bool {
		lists, _ := trackLists(t, m)
		return len(lists) > 0 && len(lists[len(lists)-1].Tracks) > 0
	})
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.exitCode(t, 30*time.Second)
	if l := retainedList(t, b); len(l.Tracks) == 0 {
		t.Fatalf("the killed run left an empty list; the test proves nothing")
	}

	seen := len(sub.Messages())
	second := startChild(t, dir, "run", "--config", cfg)
	second.httpAddr(t)
	secondRun := fmt.Sprint(second.logLines(t, "garssld is running")[0]["run_id"])
	// The first run's unacknowledged detections may come first, resent
	// from the file store.
	ofSecondRun := func(msg mosquittotest.Message) bool {
		var d struct {
			RunID string `json:"run_id"`
		}
		return msg.Topic == "garssl/robot-c/front/detections" && json.Unmarshal(msg.Payload, &d) == nil && d.RunID == secondRun
	}
	firstDet := -1
	sub.WaitFor(t, "the second run's first detection", 60*time.Second, func(m []mosquittotest.Message) bool {
		for i := seen; i < len(m); i++ {
			if ofSecondRun(m[i]) {
				firstDet = i
				return true
			}
		}
		return false
	})
	msgs := sub.Messages()
	lists, at := trackLists(t, msgs)
	var found bool
	for i, l := range lists {
		if at[i] < seen || l.RunID != secondRun {
			continue
		}
		found = true
		if len(l.Tracks) != 0 || at[i] > firstDet {
			t.Errorf("the second run's first track list %+v (message %d) is not an empty list before its first detection (message %d)", l, at[i], firstDet)
		}
		break
	}
	if !found {
		t.Errorf("the second run published no track list before its first detection")
	}

	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := second.exitCode(t, 60*time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
	if l := retainedList(t, b); len(l.Tracks) != 0 || l.RunID != secondRun {
		t.Errorf("after a clean stop the retained list is %+v, want the second run's empty one", l)
	}
}
