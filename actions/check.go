package actions

import (
	"fmt"
	"net/url"
	"strings"
)

// Checks for Attr.Check shared by several action types. Each returns a
// sentence a rule author can act on, or "".

// CheckURL accepts an absolute http or https URL.
func CheckURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Sprintf("%q is not a valid URL: %v.", s, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("%q must start with https:// or http://.", s)
	case u.Host == "":
		return fmt.Sprintf("%q has no host name.", s)
	}
	return CheckHeaderValue(s)
}

// CheckHeaderValue refuses line breaks, which would let a value start a
// header of its own.
func CheckHeaderValue(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		return "The value contains a line break, which would let it inject headers; remove it."
	}
	return ""
}
