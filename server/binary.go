package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// The CloudEvents Go SDK (github.com/cloudevents/sdk-go/v2) is not used for
// binary mode: it does not percent-decode header values either
// (cloudevents/sdk-go#1331), so it would bring a large dependency tree and
// still leave this decoding to us.

// binaryToStructured converts a binary-mode event (attributes in ce-*
// headers, data in the body) to structured-mode JSON.
func binaryToStructured(h http.Header, mediaType, ct string, body []byte) ([]byte, int, string, string) {
	if mediaType != "" && mediaType != "application/json" && !strings.HasSuffix(mediaType, "+json") {
		return nil, http.StatusUnsupportedMediaType, "unsupported_media_type", fmt.Sprintf("Event data must be JSON; got %q.", ct)
	}
	ev := map[string]any{}
	// Headers are a map, so with several bad ones the first by name is
	// reported, to give the same answer for the same request.
	var badName string
	var badErr error
	for name, values := range h {
		lower := strings.ToLower(name)
		if !strings.HasPrefix(lower, "ce-") || len(values) == 0 {
			continue
		}
		v, err := decodeAttribute(values[0])
		if err != nil {
			if badErr == nil || lower < badName {
				badName, badErr = lower, err
			}
			continue
		}
		ev[strings.TrimPrefix(lower, "ce-")] = v
	}
	if badErr != nil {
		if errors.As(badErr, new(textError)) {
			return nil, http.StatusBadRequest, "invalid_text", fmt.Sprintf(
				"Header %s: %v; no store can keep it, so the event cannot be accepted.", badName, badErr)
		}
		return nil, http.StatusBadRequest, "invalid_cloudevent", fmt.Sprintf(
			"Header %s: %v. In binary mode, ce-* header values are percent-encoded UTF-8 (CloudEvents HTTP protocol binding, section 3.1.3.2); send a literal %% as %%25.",
			badName, badErr)
	}
	if len(body) > 0 {
		if !json.Valid(body) {
			return nil, http.StatusBadRequest, "invalid_json", "The body of a binary-mode event must be JSON data."
		}
		ev["data"] = json.RawMessage(body)
	}
	if ct != "" {
		// It becomes an attribute, which json.Marshal would quietly alter.
		if !utf8.ValidString(ct) {
			return nil, http.StatusBadRequest, "invalid_text",
				"Header Content-Type: the value is not UTF-8; in binary mode it is the event's datacontenttype, which no store can keep as it is."
		}
		ev["datacontenttype"] = ct
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, http.StatusBadRequest, "invalid_cloudevent", err.Error()
	}
	return b, 0, "", ""
}

// textError is a value that decodes but holds text no store can keep (see
// engine.DecodeError.Text): answered invalid_text, like the same text in
// the body, rather than invalid_cloudevent.
type textError string

func (e textError) Error() string { return string(e) }

// decodeAttribute turns a ce-* header value into the attribute's string as
// the HTTP protocol binding (section 3.1.3.2) says: double-quoted strings
// are unquoted first, for senders of older spec versions, then one round of
// percent-decoding is done, and the result must be UTF-8. Without the UTF-8
// check, json.Marshal would silently replace bad bytes with U+FFFD. net/http
// refuses a raw NUL in a header, but %00 decodes to one.
func decodeAttribute(v string) (string, error) {
	if !strings.ContainsAny(v, `%"`) {
		if !utf8.ValidString(v) {
			return "", textError("the value is not UTF-8")
		}
		return v, nil // the common case: nothing to decode, nothing to copy
	}
	v, err := unquote(v)
	if err != nil {
		return "", err
	}
	// PathUnescape, unlike QueryUnescape, leaves '+' alone, and it rejects
	// a '%' not followed by two hex digits instead of passing it through.
	s, err := url.PathUnescape(v)
	if err != nil {
		var esc url.EscapeError
		if errors.As(err, &esc) {
			return "", fmt.Errorf("%q is not a percent-encoded byte (%%XX with two hex digits)", string(esc))
		}
		return "", err
	}
	if !utf8.ValidString(s) {
		return "", textError("the value is not UTF-8 after percent-decoding")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "", textError("the value holds a NUL character (%00)")
	}
	return s, nil
}

// unquote removes the double-quoted strings of RFC 7230 section 3.2.6 from
// v, resolving their backslash escapes (quoted-pair); text outside quotes is
// kept as it is.
func unquote(v string) (string, error) {
	if !strings.Contains(v, `"`) {
		return v, nil
	}
	var b strings.Builder
	b.Grow(len(v))
	quoted := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"':
			quoted = !quoted
		case c == '\\' && quoted:
			i++
			if i == len(v) {
				return "", errors.New("a double-quoted string ends in a lone backslash")
			}
			b.WriteByte(v[i])
		default:
			b.WriteByte(c)
		}
	}
	if quoted {
		return "", errors.New("a double-quoted string is not closed")
	}
	return b.String(), nil
}
