// Package mllm is garssld's client for the OpenAI-compatible chat-completions
// server (vLLM or llama.cpp's llama-server) that serves Qwen2.5-Omni.
//
// It builds the request body, spreads requests over the configured endpoints,
// guards each endpoint with a circuit breaker and an in-flight cap, retries
// transport failures while the caller's deadline allows, and returns the raw
// choice texts. It never looks inside a choice: reading the model's JSON is
// package gar's job, so a model that answers nonsense looks healthy here.
//
// Decisions taken where the design is silent:
//
//   - Endpoint choice: among endpoints whose breaker is not open and that have
//     a free in-flight slot, the one with the fewest requests in flight wins.
//     Ties are broken by rotation, starting after the endpoint chosen last, so
//     idle endpoints take turns. A retry prefers an endpoint other than the one
//     that just failed. When no endpoint has a free slot the caller waits (not
//     FIFO; fairness across streams is the scheduler's job) until a slot frees
//     or its context ends.
//   - Unavailable: when every breaker is open, Complete fails at once with
//     ErrUnavailable. While a half-open breaker's single probe is in flight,
//     other callers wait (within their context) for its verdict, so the
//     window that finds the server back is not lost to the probe rule.
//   - Breaker verdicts: connection errors, timeouts, HTTP 5xx and a 200 whose
//     body is not a chat completion (not JSON, no "choices", over the 8 MiB
//     cap: signs of a proxy or server fault, not of the model) count as
//     failures. HTTP 4xx and a wrong number of choices prove the server is up
//     and count as successes. HTTP 429 and the caller's own cancellation are
//     not counted at all.
//   - Per-request timeout versus caller deadline: each attempt runs under
//     min(Config.Timeout, caller deadline), and either one expiring is a
//     "timeout" the breaker sees: a server that cannot answer within the
//     window's deadline is not serving this robot. The exception is a
//     deadline whose context cause is ErrFreshness (read with context.Cause):
//     the window's own freshness budget ran out, which says nothing about the
//     server. Such a cut is reported as "deadline" and not counted, unless the
//     attempt had been out longer than 3× the p90 of the endpoint's last 20
//     successful requests, and at least 2 s (only the 2 s before its first
//     success): then the server is taken as hung and the cut counts as a
//     failure, still reported as "deadline". With the defaults stale_after
//     (10 s) is shorter than Config.Timeout (20 s), so this is how a hung
//     server opens its breaker. Cancellation (shutdown) is not counted.
//   - Breaker open time: OpenMin after the breaker trips, doubled after each
//     failed half-open probe, up to OpenFor; closing resets it. gobreaker's
//     Timeout is fixed, so breaker wraps it (see breaker.go for why rather
//     than rebuilding it per level). Requests that fail together count once:
//     gobreaker ignores the verdicts of requests sent in the closed state
//     once the breaker has opened, and only the single probe can lengthen the
//     open time, so a restart that kills every request in flight costs
//     OpenMin, not OpenFor.
//   - Retry: at most 3 attempts. After a failure that counts against the
//     breaker, after a jittered backoff (50–100 ms, then 100–200 ms), and only
//     when the caller has no deadline or its remaining time after the backoff
//     is at least Config.Timeout; a retry thus always gets the same budget as a
//     first attempt, and no GPU work is started that the caller would abandon
//     anyway. After a 429, after its Retry-After (seconds or an HTTP date; the
//     jittered backoff when absent) when that wait ends before the caller's
//     deadline (within Config.Timeout when there is none); otherwise the call
//     fails at once, saying what the server asked for. Other 4xx are never
//     retried. A retry's X-Request-Id ends in /a<j> (design §4), j = 2, 3:
//     vLLM rejects an id still in flight, and an abandoned attempt may be.
//   - 401 and 403 wrap ErrKeyRefused and say whether the key in
//     api_key_file was refused or none was sent.
//   - A server that cannot take the media (HTTP 500 with vLLM's "Please
//     install vllm[audio]" or llama-server's "image/audio input is not
//     supported … mmproj") is a setup problem, not an outage: the error wraps
//     ErrUnsupportedMedia and names the fix, the breaker does not count it,
//     it is not retried, and the endpoint is marked (EndpointState.Problem,
//     ProblemObserver) so that later requests pass it over and, when no
//     other endpoint is usable, fail at once without a request. One request
//     every Breaker.OpenFor checks whether the server was fixed; a success
//     clears the mark, as does a new Client (a reload). Matching the body
//     text is the only way to tell this from a crash, which answers 500 too.
//   - Errors name the request id once, in front, and the attempt when it was
//     not the first: "request n/s/7/refine, attempt 3: post …: HTTP 502: …".
//   - Body: written by hand into one buffer sized up front, base64 media
//     encoded straight into it (or copied from a Media encoded once per window),
//     so a request costs one allocation of its own size. Temperature is always
//     sent (0 means greedy); top_p, max_tokens and seed only when set; n only
//     when greater than 1; the system message only when non-empty.
//   - Observer results are ok, http_4xx, throttled (HTTP 429, kept apart
//     from http_4xx so that a busy server is not taken for one that refuses
//     every request), http_5xx, timeout, transport, bad_response, canceled
//     (the caller gave up mid-request), deadline (cut by the window's
//     freshness budget) and breaker_open (reported with an
//     empty endpoint because none was chosen). Each attempt is reported
//     once; Response.Latency covers the whole call including waiting for a
//     slot and retries.
//   - Secrets: the bearer token is only ever put in the Authorization header;
//     endpoint URLs are shown with any password redacted.
package mllm
