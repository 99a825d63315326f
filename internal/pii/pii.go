// Package pii normalises the personal identifiers events carry, e-mail
// addresses and phone numbers, to the one form the erasure index keys them
// by: " Ann@Example.com" and "ann@example.com", or "+1 (555) 010-0123" and
// "+15550100123", must find the same events. Intake and erasure requests
// both go through it, so a form it accepts at one it accepts at the other.
package pii

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode"
)

// Key kinds: an identifier is stored and looked up as "KIND:VALUE", so an
// e-mail address can never collide with a phone number.
const (
	KindEmail = "email"
	KindPhone = "phone"
)

// EmailKey and PhoneKey make the key of a normalised identifier.
func EmailKey(addr string) string { return KindEmail + ":" + addr }
func PhoneKey(e164 string) string { return KindPhone + ":" + e164 }

// ErrNoCountryCode is returned for a phone number written without its
// country code when the Normalizer has no default: "(555) 010-0123" could
// be a number in any country that uses ten digits.
var ErrNoCountryCode = errors.New("the number has no country code")

// maxEmail is the longest address SMTP carries (RFC 5321's path limit).
const maxEmail = 254

// Email returns addr trimmed and lower-cased, the address alone when it
// comes with a name ("Ann Lee <ann@example.com>", as a message's to or
// from may). Addresses are compared case-insensitively as a whole: the
// local part is case-sensitive in principle, but no provider people use
// treats it so, and an erasure that missed "Ann@" for "ann@" would be the
// worse mistake. Errors never quote addr, which may be logged.
func Email(addr string) (string, error) {
	a := strings.TrimSpace(addr)
	if strings.ContainsRune(a, '<') {
		if parsed, err := mail.ParseAddress(a); err == nil {
			a = parsed.Address
		}
	}
	a = strings.ToLower(a)
	at := strings.LastIndexByte(a, '@')
	switch {
	case a == "":
		return "", errors.New("the e-mail address is empty")
	case len(a) > maxEmail:
		return "", fmt.Errorf("the e-mail address is longer than %d bytes", maxEmail)
	case at <= 0 || at == len(a)-1:
		return "", errors.New("an e-mail address needs a local part, an @ and a domain")
	}
	for _, r := range a {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("<>,;", r) {
			return "", errors.New("an e-mail address holds one address, without spaces, names or brackets")
		}
	}
	return a, nil
}

// Normalizer turns phone numbers into E.164 ("+15550100123").
type Normalizer struct {
	// CountryCode is the calling code ("1", "44") of numbers written
	// without one; "" refuses them with ErrNoCountryCode.
	CountryCode string
}

// ParseCountryCode checks a calling code given by hand ("1", "+44") and
// returns its digits.
func ParseCountryCode(s string) (string, error) {
	cc := strings.TrimPrefix(strings.TrimSpace(s), "+")
	if cc == "" || len(cc) > 3 || cc[0] == '0' || strings.Trim(cc, "0123456789") != "" {
		return "", errors.New("a country calling code is 1 to 3 digits, not starting with 0, e.g. 1 or 44")
	}
	return cc, nil
}

// Phone returns number in E.164 form. It accepts the usual ways of writing
// one: spaces, dashes, dots, slashes and parentheses between digits, a
// leading "tel:", "+CC" or the international prefix "00" (and "011"
// within country code 1), and an extension ("x12", "ext. 12", "#12",
// ";ext=12"), which is dropped. A number without a country code takes
// n.CountryCode after its trunk prefix is dropped: a leading "1" of an
// eleven-digit number for country code 1, a leading "0" elsewhere except
// Italy (39), whose numbers keep it. Countries with another trunk prefix
// need the number written with its +. Errors never quote the number.
func (n Normalizer) Phone(number string) (string, error) {
	s := strings.TrimSpace(number)
	if len(s) >= 4 && strings.EqualFold(s[:4], "tel:") {
		s = s[4:]
	}
	s = cutExtension(s)
	digits := make([]byte, 0, len(s))
	plus := false
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits = append(digits, byte(r))
		case r == '+' && len(digits) == 0 && !plus:
			plus = true
		case strings.ContainsRune(" -.()/\u00a0", r):
		default:
			return "", fmt.Errorf("a phone number holds digits and separators, not %q", r)
		}
	}
	if len(digits) == 0 {
		return "", errors.New("the phone number has no digits")
	}
	d := string(digits)
	switch {
	case plus:
	case strings.HasPrefix(d, "00"):
		d = d[2:]
	case n.CountryCode == "1" && strings.HasPrefix(d, "011"):
		d = d[3:]
	case n.CountryCode == "":
		return "", fmt.Errorf("%w: write it with + and the country code, e.g. +1 555 010 0123", ErrNoCountryCode)
	case n.CountryCode == "1":
		if len(d) == 11 && d[0] == '1' {
			d = d[1:]
		}
		if len(d) != 10 {
			return "", errors.New("a number of country code 1 has 10 digits without it")
		}
		d = "1" + d
	default:
		if n.CountryCode != "39" && d[0] == '0' {
			d = d[1:]
		}
		d = n.CountryCode + d
	}
	// E.164: at most 15 digits, the country code's first not 0; the
	// shortest numbers in use have 7 with their country code.
	if len(d) < 7 || len(d) > 15 || d[0] == '0' {
		return "", errors.New("an international phone number has 7 to 15 digits and a country code that does not start with 0")
	}
	return "+" + d, nil
}

// cutExtension drops an extension: what follows "x", "ext", "#", ";" or
// "," (";ext=" of RFC 3966 included).
func cutExtension(s string) string {
	// "ext" first: cutting at its x would leave an e behind.
	if i := strings.Index(strings.ToLower(s), "ext"); i >= 0 {
		s = s[:i]
	}
	if i := strings.IndexAny(s, "xX#;,"); i >= 0 {
		s = s[:i]
	}
	return s
}
