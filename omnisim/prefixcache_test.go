package omnisim

import (
	"testing"
	"time"
)

func TestPrefixCacheOverHTTP(t *testing.T) {
	system := "You are a careful assistant. Answer with one JSON object." // 57 bytes: 15 tokens
	systemTokens := (len(system) + 3) / 4
	img, wav := plainJPEG(t, 224, 224, 1), makeWAV(t, 3, 16000, 1)
	mediaTokens := 66 + 77

	_, ts := startServer(t, testConfig())
	first := post(t, ts.URL, chatOpts{system: system, requestID: "n/f/1/locate", text: locatePrompt, image: img, audio: wav})
	if got := first.decoded.Usage.PromptTokensDetails.CachedTokens; got != 0 {
		t.Fatalf("first request: cached_tokens = %d, want 0", got)
	}

	sameMedia := post(t, ts.URL, chatOpts{system: system, requestID: "n/f/1/analysis", text: analysisPrompt, image: img, audio: wav})
	u := sameMedia.decoded.Usage
	if want := systemTokens + mediaTokens; u.PromptTokensDetails.CachedTokens != want {
		t.Fatalf("same system and media: cached_tokens = %d, want %d", u.PromptTokensDetails.CachedTokens, want)
	}
	if computed, full := u.PromptTokens-u.PromptTokensDetails.CachedTokens, first.decoded.Usage.PromptTokens; computed >= full {
		t.Fatalf("cached request computed %d prefill tokens, not fewer than the uncached %d", computed, full)
	}

	// A byte-identical prompt is cached but for its last token, which vLLM
	// always recomputes.
	again := post(t, ts.URL, chatOpts{system: system, requestID: "n/f/1/analysis/t1", text: analysisPrompt, image: img, audio: wav})
	if got, want := again.decoded.Usage.PromptTokensDetails.CachedTokens, again.decoded.Usage.PromptTokens-1; got != want {
		t.Fatalf("identical prompt: cached_tokens = %d, want %d", got, want)
	}

	otherImage := post(t, ts.URL, chatOpts{system: system, requestID: "n/f/2/locate", text: locatePrompt, image: plainJPEG(t, 224, 224, 2), audio: wav})
	if got := otherImage.decoded.Usage.PromptTokensDetails.CachedTokens; got != systemTokens {
		t.Fatalf("different image: cached_tokens = %d, want only the system prompt's %d", got, systemTokens)
	}

	cfg := testConfig()
	cfg.PrefixCache = false
	_, off := startServer(t, cfg)
	for range 2 {
		r := post(t, off.URL, chatOpts{system: system, text: locatePrompt, image: img, audio: wav})
		if got := r.decoded.Usage.PromptTokensDetails.CachedTokens; got != 0 {
			t.Fatalf("--prefix-cache=false: cached_tokens = %d, want 0", got)
		}
	}
}

func TestPrefixCacheStats(t *testing.T) {
	s, ts := startServer(t, testConfig())
	img, wav := plainJPEG(t, 224, 224, 1), makeWAV(t, 3, 16000, 1)
	var prompt, cached, completion int
	for _, o := range []chatOpts{
		{requestID: "n/f/1/locate", text: locatePrompt, image: img, audio: wav},
		{requestID: "n/f/1/analysis", text: analysisPrompt, image: img, audio: wav, n: 5},
	} {
		u := post(t, ts.URL, o).decoded.Usage
		prompt += u.PromptTokens
		cached += u.PromptTokensDetails.CachedTokens
		completion += u.CompletionTokens
	}
	st := s.Stats()
	if st.Requests != 2 || st.Choices != 6 || st.PromptTokens != int64(prompt) || st.CachedTokens != int64(cached) ||
		st.ComputedPrefillTokens != int64(prompt-cached) || st.CompletionTokens != int64(completion) {
		t.Fatalf("stats %+v, want 2 requests, 6 choices, prompt %d, cached %d, completion %d", st.Counters, prompt, cached, completion)
	}
	if got := st.ByStage[StageAnalysis].Choices; got != 5 {
		t.Fatalf("analysis choices = %d, want 5", got)
	}
	s.ResetStats()
	if st := s.Stats(); st.Requests != 0 || st.ByStage[StageLocate].Requests != 0 {
		t.Fatalf("after ResetStats: %+v", st)
	}
	// ResetStats leaves the cache warm; ResetCache empties it.
	again := post(t, ts.URL, chatOpts{requestID: "n/f/1/locate", text: locatePrompt, image: img, audio: wav})
	if again.decoded.Usage.PromptTokensDetails.CachedTokens == 0 {
		t.Fatal("ResetStats emptied the prefix cache")
	}
	s.ResetCache()
	cold := post(t, ts.URL, chatOpts{requestID: "n/f/1/locate", text: locatePrompt, image: img, audio: wav})
	if got := cold.decoded.Usage.PromptTokensDetails.CachedTokens; got != 0 {
		t.Fatalf("after ResetCache: cached_tokens = %d, want 0", got)
	}
}

func TestPrefixCacheLRU(t *testing.T) {
	seg := func(s string) segment { return segment{role: "user", kind: "text", data: []byte(s)} }
	keysA := prefixKeys("m", []segment{seg("sys"), seg("a1"), seg("a2")})
	keysB := prefixKeys("m", []segment{seg("sys"), seg("b1")})
	keysOtherModel := prefixKeys("other", []segment{seg("sys")})
	now := time.Unix(1000, 0)

	c := newPrefixCache(4, time.Minute)
	if got := c.hits(keysA, now); got != 0 {
		t.Fatalf("empty cache hits = %d", got)
	}
	c.add(keysA, now)
	if got := c.hits(keysA, now); got != 3 {
		t.Fatalf("hits after add = %d, want 3", got)
	}
	if got := c.hits(keysB, now); got != 1 {
		t.Fatalf("shared system prefix hits = %d, want 1", got)
	}
	if got := c.hits(keysOtherModel, now); got != 0 {
		t.Fatalf("another model shares the cache: hits = %d", got)
	}
	// Capacity 4: adding B's new prefix evicts the least recently used,
	// which is A's longest prefix, never the shared system prefix.
	c.add(keysB, now)
	c.add(prefixKeys("m", []segment{seg("sys"), seg("c1")}), now)
	if got := c.hits(keysB, now); got != 2 {
		t.Fatalf("B after eviction hits = %d, want 2", got)
	}
	if got := c.hits(keysA, now); got != 2 {
		t.Fatalf("A after eviction hits = %d, want 2 (only its longest prefix evicted)", got)
	}
	if got := c.hits(keysB, now.Add(2*time.Minute)); got != 0 {
		t.Fatalf("expired entries still hit: %d", got)
	}
}
