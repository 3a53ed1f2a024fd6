package mllm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// ErrUnavailable means no endpoint could take the request because every
// breaker is open (or half-open with its probe in flight). Callers publish the
// window as "mllm_unavailable".
var ErrUnavailable = errors.New("model server unavailable")

// ErrBadResponse means the server answered 2xx with something that is not the
// expected chat completion: not JSON, no choices, too large, or a different
// number of choices than requested.
var ErrBadResponse = errors.New("bad response")

// ErrKeyRefused means the server answered 401 or 403: the API key is
// missing, wrong or not allowed this model. Waiting does not heal it.
var ErrKeyRefused = errors.New("the server refused the API key")

// ErrUnsupportedMedia means an endpoint answered that it cannot take the
// images or audio garssld sends: a setup problem of the model server (vLLM
// without its audio extra, llama-server without --mmproj), not an outage.
// Its StatusError says how to fix it.
var ErrUnsupportedMedia = errors.New("the model server cannot take garssld's media")

// mediaProblems are the answers (HTTP 500) of model servers set up without
// support for some media, with what fixes each. They are the servers' own
// texts: matching them is the only way to tell a setup problem from a
// crash, which answers 500 too.
var mediaProblems = []struct{ says, fix string }{
	{"Please install vllm[audio]", `vLLM was installed without its audio extra: run pip install "vllm[audio]" on the model server and restart vLLM`},
	{"image input is not supported - hint: if this is unexpected, you may need to provide the mmproj",
		"llama-server takes no images: restart it with --mmproj and the model's multimodal projector GGUF"},
	{"audio input is not supported - hint: if this is unexpected, you may need to provide the mmproj",
		"llama-server takes no audio: restart it with --mmproj and the model's multimodal projector GGUF"},
}

// mediaFix returns the fix for a server message that says it cannot take
// the media, or "".
func mediaFix(message string) string {
	for _, p := range mediaProblems {
		if strings.Contains(message, p.says) {
			return p.fix
		}
	}
	return ""
}

// ErrFreshness is the cause (context.WithDeadlineCause) a caller gives a
// request's context when its deadline is the window's own freshness budget
// (stale_after), not a limit on the server. A cut for freshness says nothing
// about the endpoint's health: it is counted apart (result "deadline") and
// not held against the breaker, unless the attempt had already been out far
// longer than the endpoint usually takes (a hung server).
var ErrFreshness = errors.New("the window's freshness budget ran out")

// errNotCounted is handed to a breaker for attempts that say nothing about the
// endpoint's health (the caller gave up), so the breaker excludes them.
var errNotCounted = errors.New("not counted")

// StatusError is an HTTP error status from an endpoint. Complete's errors
// name the request id once, in front; this one does not repeat it.
type StatusError struct {
	Endpoint string // display form of the endpoint base URL
	Code     int
	Message  string // the server's error message, shortened
	// KeySent says whether the request carried an API key, which decides
	// what a 401 or 403 means.
	KeySent bool
	// Fix is set when the server said it cannot take the media: what to
	// change on the model server.
	Fix string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("post %s/chat/completions: HTTP %d", e.Endpoint, e.Code)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Fix != "" {
		msg += "; fix: " + e.Fix
	}
	if e.keyRefused() {
		if e.KeySent {
			msg += "; the server refused the API key: check the key in the file mllm.api_key_file names"
		} else {
			msg += "; the server wants an API key: put it in a file and name that file in mllm.api_key_file"
		}
	}
	return msg
}

// Unwrap makes a 401 or 403 match ErrKeyRefused, and an answer that the
// media cannot be taken ErrUnsupportedMedia.
func (e *StatusError) Unwrap() error {
	switch {
	case e.keyRefused():
		return ErrKeyRefused
	case e.Fix != "":
		return ErrUnsupportedMedia
	}
	return nil
}

func (e *StatusError) keyRefused() bool {
	return e.Code == http.StatusUnauthorized || e.Code == http.StatusForbidden
}

// maxErrorMessage bounds how much of a server's error body ends up in errors
// and logs.
const maxErrorMessage = 300

// errorMessage pulls a human-readable message out of an error body: the
// "message" of vLLM's and llama.cpp's JSON errors, else the text itself.
func errorMessage(body []byte) string {
	var shaped struct {
		Message string          `json:"message"`
		Error   json.RawMessage `json:"error"`
	}
	msg := ""
	if json.Unmarshal(body, &shaped) == nil {
		msg = shaped.Message
		if msg == "" && len(shaped.Error) > 0 {
			var nested struct {
				Message string `json:"message"`
			}
			var flat string
			if json.Unmarshal(shaped.Error, &nested) == nil {
				msg = nested.Message
			} else if json.Unmarshal(shaped.Error, &flat) == nil {
				msg = flat
			}
		}
	}
	if msg == "" {
		msg = string(body)
	}
	return shorten(msg, maxErrorMessage)
}

// shorten makes s a single valid-UTF-8 line of at most limit bytes.
func shorten(s string, limit int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
