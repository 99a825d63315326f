package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/hookline/hookline/actions"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// failure classifies an error from CreateMessage.
func (e *Executor) failure(ctx context.Context, rt *attemptTransport, err error) actions.Outcome {
	var blocked *actions.BlockedError
	if errors.As(err, &blocked) {
		// The same words as an http action's: api_base_url is refused on
		// every retry until --allow-cidr changes.
		return actions.Outcome{Status: actions.Permanent, Error: blocked.Error()}
	}
	out := actions.Outcome{StatusCode: rt.status}

	var twErr *client.TwilioRestError
	isTwilio := errors.As(err, &twErr)
	if out.StatusCode == 0 && isTwilio {
		// Only twilio-go's own credential check fails without a response;
		// Validate should have caught it.
		out.StatusCode = twErr.Status
	}

	if out.StatusCode == 0 {
		// No answer: the request may or may not have reached Twilio; the
		// queue decides how long to keep trying.
		out.Status = actions.Retry
		switch {
		case ctx.Err() != nil:
			out.Error = "twilio request interrupted: " + context.Cause(ctx).Error()
		default:
			var uerr *url.Error
			if errors.As(err, &uerr) {
				err = uerr.Err // its URL holds the account sid and adds nothing
			}
			out.Error = "twilio request failed: " + err.Error()
		}
		return out
	}
	if out.StatusCode >= 200 && out.StatusCode < 300 {
		// The reply was cut off or is not a Message resource.
		return accepted(out.StatusCode, err)
	}

	code := out.StatusCode
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		out.Status = actions.Retry
		out.RetryAfter = actions.RetryAfter(rt.header.Get("Retry-After"), e.now(), actions.MaxRetryAfter)
	default:
		// 4xx: the same request will be refused again. Also 3xx and odd 2xx,
		// which mean api_base_url points at something that is not Twilio.
		out.Status = actions.Permanent
	}

	if isTwilio {
		out.Error = fmt.Sprintf("twilio error %d (HTTP %d): %s", twErr.Code, code, twErr.Message)
		if twErr.MoreInfo != "" {
			out.Error += " (" + twErr.MoreInfo + ")"
		}
		out.Response = compactJSON(struct {
			Code     int    `json:"code"`
			Message  string `json:"message"`
			MoreInfo string `json:"more_info,omitempty"`
			Status   int    `json:"status"`
		}{twErr.Code, twErr.Message, twErr.MoreInfo, twErr.Status})
		return out
	}
	// Not Twilio's JSON: a proxy's error page, or an endpoint that is not
	// Twilio-compatible. The raw text is the best clue there is.
	out.Error = fmt.Sprintf("twilio answered HTTP %d %s", code, http.StatusText(code))
	if code >= 300 && code < 400 {
		out.Error += "; api_base_url may be wrong, redirects are not followed"
	}
	out.Response = strings.ToValidUTF8(string(rt.body), "\uFFFD")
	return out
}

// accepted is the outcome of a 2xx whose reply cannot be used. Twilio
// answers 201 once it has queued the message, so retrying would send the text
// twice: the attempt counts as delivered, with the problem recorded.
func accepted(code int, err error) actions.Outcome {
	return actions.Outcome{
		Status:     actions.Delivered,
		StatusCode: code,
		Error:      fmt.Sprintf("twilio accepted the message (HTTP %d) but its reply is unusable, so no sid was recorded: %v", code, err),
	}
}

// summary keeps the fields of Twilio's reply that say what happened to the
// message. The reply also echoes the recipient and the body, which may hold
// secrets, so it is never stored whole.
func summary(m *openapi.ApiV2010Message) string {
	s := struct {
		Sid         *string `json:"sid,omitempty"`
		Status      *string `json:"status,omitempty"`
		NumSegments *string `json:"num_segments,omitempty"`
		ErrorCode   *int    `json:"error_code,omitempty"`
	}{m.Sid, m.Status, m.NumSegments, m.ErrorCode}
	return compactJSON(s)
}

// compactJSON encodes v on one line without escaping <, > and &: escaped,
// an echoed secret written as "&lt;" would read "\u0026lt;", which the
// redactor cannot tell from text.
func compactJSON(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}
