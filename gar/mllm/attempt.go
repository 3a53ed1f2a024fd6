package mllm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// outcome classifies one attempt for the breaker, retries and metrics.
type outcome int

const (
	outcomeOK outcome = iota
	outcomeHTTP4xx
	outcomeHTTP5xx
	outcomeTimeout
	outcomeTransport
	outcomeBadEnvelope // 2xx that is not a chat completion: serving-path fault
	outcomeBadCount    // well-formed completion, wrong number of choices
	outcomeCanceled    // the caller gave up
	outcomeThrottled   // HTTP 429: the server is up and asks us to wait
	outcomeDeadline    // cut by the window's freshness budget (ErrFreshness)
	outcomeHung        // cut by freshness after being out far longer than usual
	outcomeMedia       // the server cannot take the media (ErrUnsupportedMedia)
)

func (o outcome) result() string {
	switch o {
	case outcomeOK:
		return ResultOK
	case outcomeHTTP4xx:
		return ResultHTTP4xx
	case outcomeThrottled:
		return ResultThrottled
	case outcomeHTTP5xx:
		return ResultHTTP5xx
	case outcomeTimeout:
		return ResultTimeout
	case outcomeTransport:
		return ResultTransport
	case outcomeCanceled:
		return ResultCanceled
	case outcomeDeadline, outcomeHung:
		return ResultDeadline
	case outcomeMedia:
		return ResultUnsupportedMedia
	default:
		return ResultBadResponse
	}
}

// isFailure reports whether the outcome speaks against the endpoint: such
// outcomes count towards its breaker and are worth retrying elsewhere.
func (o outcome) isFailure() bool {
	switch o {
	case outcomeHTTP5xx, outcomeTimeout, outcomeTransport, outcomeBadEnvelope, outcomeHung:
		return true
	default:
		return false
	}
}

// verdict is what the breaker is told about the attempt.
func (o outcome) verdict(err error) error {
	switch {
	case o.isFailure():
		return err
	case o == outcomeCanceled || o == outcomeThrottled || o == outcomeDeadline:
		return errNotCounted
	default:
		return nil
	}
}

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// attemptResult is what one attempt brought back.
type attemptResult struct {
	texts []string
	usage Usage
	out   outcome
	// retryAfter is the wait a 429 asked for; 0 when it named none.
	retryAfter time.Duration
}

// attempt posts body to ep once, under the per-request timeout. id is the
// request id of this attempt.
func (c *Client) attempt(ctx context.Context, ep *endpoint, body []byte, req *Request, id string) (attemptResult, error) {
	label := "post " + ep.name + "/chat/completions"
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	fail := func(out outcome, err error) (attemptResult, error) { return attemptResult{out: out}, err }

	hreq, err := http.NewRequestWithContext(actx, http.MethodPost, ep.post, bytes.NewReader(body))
	if err != nil {
		return fail(outcomeTransport, fmt.Errorf("%s: %w", label, unwrapURLError(err)))
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("X-Request-Id", id)
	if c.auth != "" {
		hreq.Header.Set("Authorization", c.auth)
	}

	began := time.Now()
	resp, err := c.http.Do(hreq)
	if err != nil {
		return fail(c.classifyFailure(ctx, actx, ep, time.Since(began), label, err))
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// A failed read still leaves the status, which is what matters.
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		serr := &StatusError{Endpoint: ep.name, Code: resp.StatusCode, Message: errorMessage(msg), KeySent: c.auth != ""}
		if resp.StatusCode >= 500 {
			serr.Fix = mediaFix(serr.Message)
		}
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			wait, _ := retryAfter(resp.Header.Get("Retry-After"), time.Now())
			return attemptResult{out: outcomeThrottled, retryAfter: wait}, serr
		case resp.StatusCode >= 500 && serr.Fix != "":
			return fail(outcomeMedia, serr)
		case resp.StatusCode >= 500:
			return fail(outcomeHTTP5xx, serr)
		case resp.StatusCode >= 400:
			return fail(outcomeHTTP4xx, serr)
		default:
			return fail(outcomeBadEnvelope, fmt.Errorf("%w: %w", ErrBadResponse, serr))
		}
	}

	if resp.ContentLength > maxResponseBytes {
		return fail(outcomeBadEnvelope, fmt.Errorf("%s: %w: body of %d bytes exceeds %d", label, ErrBadResponse, resp.ContentLength, maxResponseBytes))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return fail(c.classifyFailure(ctx, actx, ep, time.Since(began), label+": read body", err))
	}
	if len(data) > maxResponseBytes {
		return fail(outcomeBadEnvelope, fmt.Errorf("%s: %w: body exceeds %d bytes", label, ErrBadResponse, maxResponseBytes))
	}
	texts, usage, err := parseResponse(data, req.wantChoices())
	switch {
	case errors.Is(err, errCount):
		return fail(outcomeBadCount, fmt.Errorf("%s: %w: %w", label, ErrBadResponse, err))
	case err != nil:
		return fail(outcomeBadEnvelope, fmt.Errorf("%s: %w: %w", label, ErrBadResponse, err))
	}
	return attemptResult{texts: texts, usage: usage, out: outcomeOK}, nil
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(h, 10, 32); err == nil {
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// classifyFailure tells the caller giving up from the attempt timing out from
// the endpoint failing. The caller's deadline cutting an attempt short counts
// as a timeout (a server that cannot answer within the window's deadline is
// not serving this robot, whichever of the two limits is shorter), unless
// its cause is ErrFreshness: a window that ran out of freshness budget says
// nothing about the server unless the attempt had been out longer than the
// endpoint's hungAfter. out is how long the attempt had been out.
func (c *Client) classifyFailure(ctx, actx context.Context, ep *endpoint, out time.Duration, label string, err error) (outcome, error) {
	switch ctxErr := ctx.Err(); {
	case errors.Is(ctxErr, context.DeadlineExceeded) && errors.Is(context.Cause(ctx), ErrFreshness):
		if limit := ep.hungAfter(); out > limit {
			return outcomeHung, fmt.Errorf("%s: no answer in %s, far longer than the endpoint's recent requests (counted against it past %s): %w (%w)",
				label, out.Round(time.Millisecond), limit.Round(time.Millisecond), ErrFreshness, ctxErr)
		}
		return outcomeDeadline, fmt.Errorf("%s: %w (%w)", label, ErrFreshness, ctxErr)
	case errors.Is(ctxErr, context.DeadlineExceeded):
		return outcomeTimeout, fmt.Errorf("%s: no answer before the caller's deadline: %w", label, ctxErr)
	case ctxErr != nil:
		return outcomeCanceled, fmt.Errorf("%s: %w", label, ctxErr)
	}
	if actx.Err() != nil {
		return outcomeTimeout, fmt.Errorf("%s: no answer within %s: %w", label, c.cfg.Timeout, context.DeadlineExceeded)
	}
	err = unwrapURLError(err)
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return outcomeTimeout, fmt.Errorf("%s: %w (%w)", label, err, context.DeadlineExceeded)
	}
	return outcomeTransport, fmt.Errorf("%s: %w", label, err)
}

// unwrapURLError drops net/http's *url.Error layer: it repeats the URL, which
// may carry credentials, and the label already names the endpoint.
func unwrapURLError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}
