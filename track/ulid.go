package track

import (
	"crypto/rand"
	"sync"

	"github.com/oklog/ulid/v2"
)

// NewULIDSource returns a generator of track ids for New: ULIDs with
// entropy from crypto/rand, so ids are unique across restarts and robots,
// and strictly increasing within the process, even when the wall clock
// steps back, so an id is never reused. It is safe for concurrent use.
func NewULIDSource() func() string {
	var (
		mu      sync.Mutex
		entropy = ulid.Monotonic(rand.Reader, 0)
		last    ulid.ULID
	)
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		ms := max(ulid.Now(), last.Time())
		for {
			id, err := ulid.New(ms, entropy)
			if err == nil && id.Compare(last) > 0 {
				last = id
				return id.String()
			}
			// The millisecond's entropy ran out (2^80 ids) or the clock
			// stepped back onto an older id: take the next millisecond.
			ms++
		}
	}
}
