package omnisim

import (
	"container/list"
	"crypto/sha256"
	"time"
)

// prefixKey names one cumulative prompt prefix.
type prefixKey [32]byte

// prefixKeys returns one key per segment boundary. Each key hashes the
// previous one, so a key stands for the whole prefix before it.
func prefixKeys(model string, segs []segment) []prefixKey {
	keys := make([]prefixKey, len(segs))
	prev := sha256.Sum256([]byte("omnisim prefix\x00" + model))
	for i, s := range segs {
		h := sha256.New()
		h.Write(prev[:])
		writeLengthPrefixed(h, []byte(s.role))
		writeLengthPrefixed(h, []byte(s.kind))
		writeLengthPrefixed(h, s.data)
		copy(keys[i][:], h.Sum(nil))
		prev = keys[i]
	}
	return keys
}

// prefixCache is an LRU of prefix keys with a time to live. It is not safe
// for concurrent use; the GPU model guards it.
type prefixCache struct {
	capacity int
	ttl      time.Duration
	order    *list.List // front = most recently used; values are *cacheEntry
	entries  map[prefixKey]*list.Element
}

type cacheEntry struct {
	key     prefixKey
	expires time.Time
}

func newPrefixCache(capacity int, ttl time.Duration) *prefixCache {
	return &prefixCache{capacity: capacity, ttl: ttl, order: list.New(), entries: map[prefixKey]*list.Element{}}
}

// hits counts the leading keys present. Like vLLM's block chain, a prefix is
// only usable when every shorter prefix is still cached.
func (c *prefixCache) hits(keys []prefixKey, now time.Time) int {
	n := 0
	for _, k := range keys {
		el, ok := c.entries[k]
		if !ok {
			break
		}
		if now.After(el.Value.(*cacheEntry).expires) {
			c.order.Remove(el)
			delete(c.entries, k)
			break
		}
		n++
	}
	return n
}

// add enters every key, refreshing those already present. Keys go in from
// the longest to the shortest so that shorter prefixes, which longer ones
// depend on, are the last to be evicted (vLLM frees leaf blocks first too).
func (c *prefixCache) add(keys []prefixKey, now time.Time) {
	for i := len(keys) - 1; i >= 0; i-- {
		k := keys[i]
		if el, ok := c.entries[k]; ok {
			el.Value.(*cacheEntry).expires = now.Add(c.ttl)
			c.order.MoveToFront(el)
			continue
		}
		c.entries[k] = c.order.PushFront(&cacheEntry{key: k, expires: now.Add(c.ttl)})
		for c.order.Len() > c.capacity {
			oldest := c.order.Back()
			c.order.Remove(oldest)
			delete(c.entries, oldest.Value.(*cacheEntry).key)
		}
	}
}

func (c *prefixCache) clear() {
	c.order.Init()
	clear(c.entries)
}
