package track

import (
	"encoding/json"
	"testing"

	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/internal/schematest"
)

// TestPayloadsMatchSchemas checks every kind of event (new, update with
// and without a window key, end with each kind of key) and the track list,
// with and without a camera model, against the published JSON Schemas.
func TestPayloadsMatchSchemas(t *testing.T) {
	files := map[string][]byte{"event.v1.schema.json": gar.EventSchema, "tracks.v1.schema.json": gar.TracksSchema}
	eventSch := schematest.CompileSet(t, "event.v1.schema.json", files)
	listSch := schematest.CompileSet(t, "tracks.v1.schema.json", files)
	for _, hfov := range []float64{0, 90} {
		tr := New("front", cfgWith(func(c *Config) { c.HFOVDeg = hfov }), NewULIDSource())
		evs, _ := run(t, tr,
			ok(0, src{0.3, 0.5, 0.3, 0.3, "dog barking"}),
			ok(1, src{0.4, 0.5, 0.3, 0.3, "dog barking"}),
			ok(2, src{0.5, 0.5, 0.3, 0.3, "dog"}),
		)
		lists := []List{NewList("run1", "front", tr.Active()), NewList("run1", "front", nil)}
		evs = append(evs, tr.EndAll(ReasonStopped, t0.Add(10*windowLen))...)
		seen := map[string]bool{}
		for _, e := range evs {
			seen[e.Type] = true
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if err := schematest.Validate(eventSch, b); err != nil {
				t.Errorf("hfov %v: event %s does not validate: %v", hfov, b, err)
			}
		}
		if !seen[TypeNew] || !seen[TypeUpdate] || !seen[TypeEnd] {
			t.Errorf("hfov %v: the script made events %v; want new, update and end", hfov, types(evs))
		}
		if len(lists[0].Tracks) != 1 {
			t.Errorf("hfov %v: Active has %d tracks, want 1", hfov, len(lists[0].Tracks))
		}
		for _, l := range lists {
			b, _ := json.Marshal(l)
			if err := schematest.Validate(listSch, b); err != nil {
				t.Errorf("hfov %v: list %s does not validate: %v", hfov, b, err)
			}
		}
	}
}
