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
)

func (o outcome) result() string {
	switch o {
	case outcomeOK:
		return ResultOK
	case outcomeHTTP4xx:
		return ResultHTTP4xx
	case outcomeHTTP5xx:
		return ResultHTTP5xx
	case outcomeTimeout:
		return ResultTimeout
	case outcomeTransport:
		return ResultTransport
	case outcomeCanceled:
		return ResultCanceled
	default:
		return ResultBadResponse
	}
}

// isFailure reports whether the outcome speaks against the endpoint: such
// outcomes count towards its breaker and are worth retrying elsewhere.
func (o outcome) isFailure() bool {
	switch o {
	case outcomeHTTP5xx, outcomeTimeout, outcomeTransport, outcomeBadEnvelope:
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
	case o == outcomeCanceled:
		return errNotCounted
	default:
		return nil
	}
}

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// attempt posts body to ep once, under the per-request timeout.
func (c *Client) attempt(ctx context.Context, ep *endpoint, body []byte, req *Request) ([]string, Usage, outcome, error) {
	label := "post " + ep.name + "/chat/completions (request " + req.ID + ")"
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()

	hreq, err := http.NewRequestWithContext(actx, http.MethodPost, ep.post, bytes.NewReader(body))
	if err != nil {
		return nil, Usage{}, outcomeTransport, fmt.Errorf("%s: %w", label, unwrapURLError(err))
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("X-Request-Id", req.ID)
	if c.auth != "" {
		hreq.Header.Set("Authorization", c.auth)
	}

	resp, err := c.http.Do(hreq)
	if err != nil {
		out, err := c.classifyFailure(ctx, actx, label, err)
		return nil, Usage{}, out, err
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// A failed read still leaves the status, which is what matters.
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		serr := &StatusError{Endpoint: ep.name, RequestID: req.ID, Code: resp.StatusCode, Message: errorMessage(msg)}
		switch {
		case resp.StatusCode >= 500:
			return nil, Usage{}, outcomeHTTP5xx, serr
		case resp.StatusCode >= 400:
			return nil, Usage{}, outcomeHTTP4xx, serr
		default:
			return nil, Usage{}, outcomeBadEnvelope, fmt.Errorf("%w: %w", ErrBadResponse, serr)
		}
	}

	if resp.ContentLength > maxResponseBytes {
		return nil, Usage{}, outcomeBadEnvelope, fmt.Errorf("%s: %w: body of %d bytes exceeds %d", label, ErrBadResponse, resp.ContentLength, maxResponseBytes)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		out, err := c.classifyFailure(ctx, actx, label+": read body", err)
		return nil, Usage{}, out, err
	}
	if len(data) > maxResponseBytes {
		return nil, Usage{}, outcomeBadEnvelope, fmt.Errorf("%s: %w: body exceeds %d bytes", label, ErrBadResponse, maxResponseBytes)
	}
	texts, usage, err := parseResponse(data, req.wantChoices())
	switch {
	case errors.Is(err, errCount):
		return nil, Usage{}, outcomeBadCount, fmt.Errorf("%s: %w: %w", label, ErrBadResponse, err)
	case err != nil:
		return nil, Usage{}, outcomeBadEnvelope, fmt.Errorf("%s: %w: %w", label, ErrBadResponse, err)
	}
	return texts, usage, outcomeOK, nil
}

// classifyFailure tells the caller giving up from the attempt timing out from
// the endpoint failing.
func (c *Client) classifyFailure(ctx, actx context.Context, label string, err error) (outcome, error) {
	if ctxErr := ctx.Err(); ctxErr != nil {
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
