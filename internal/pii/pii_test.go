package pii

import (
	"errors"
	"strings"
	"testing"
)

func TestEmail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string // want "" means refused
	}{
		{"ann@example.com", "ann@example.com"},
		{"  Ann.Lee@Example.COM\t", "ann.lee@example.com"},
		{"o'brien+tag@mail.example.org", "o'brien+tag@mail.example.org"},
		{"ÉLOÏSE@exemple.fr", "éloïse@exemple.fr"},
		{"a@b@example.com", "a@b@example.com"}, // the domain follows the last @
		{"", ""},
		{"   ", ""},
		{"ann", ""},
		{"@example.com", ""},
		{"ann@", ""},
		{"ann lee@example.com", ""},
		{"Ann Lee <Ann@Example.com>", "ann@example.com"},
		{`"Lee, Ann" <ann@example.com>`, "ann@example.com"},
		{"Ann <ann@example.com", ""},
		{"ann@example.com, bob@example.com", ""},
		{"ann@example.com\x00", ""},
		{strings.Repeat("a", 250) + "@x.io", ""},
	}
	for _, tt := range tests {
		got, err := Email(tt.in)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("Email(%q) = %q, want an error", tt.in, got)
		case tt.want != "" && (err != nil || got != tt.want):
			t.Errorf("Email(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		case err != nil && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) && strings.TrimSpace(tt.in) != "":
			t.Errorf("Email(%q): the error quotes the address: %v", tt.in, err)
		}
	}
}

func TestPhone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, cc, in, want string // want "" means refused
	}{
		{"E.164 as is", "", "+15550100123", "+15550100123"},
		{"spaces, parentheses and dashes", "", "+1 (555) 010-0123", "+15550100123"},
		{"dots", "", "+44 20.7946.0958", "+442079460958"},
		{"slashes and no-break spaces", "", "+49 30/901820\u00a01", "+49309018201"},
		{"tel URI", "", "tel:+1-555-010-0123", "+15550100123"},
		{"TEL in capitals", "", "TEL:+15550100123", "+15550100123"},
		{"international prefix 00", "", "0044 20 7946 0958", "+442079460958"},
		{"extension x", "", "+1 555 010 0123 x45", "+15550100123"},
		{"extension ext.", "", "+1 555 010 0123 ext. 45", "+15550100123"},
		{"extension RFC 3966", "", "tel:+1-555-010-0123;ext=45", "+15550100123"},
		{"extension #", "", "+15550100123#45", "+15550100123"},
		{"national without a default", "", "(555) 010-0123", ""},
		{"national, country code 1", "1", "(555) 010-0123", "+15550100123"},
		{"national with trunk 1", "1", "1 555 010 0123", "+15550100123"},
		{"011 within country code 1", "1", "011 44 20 7946 0958", "+442079460958"},
		{"too short for country code 1", "1", "010-0123", ""},
		{"national, trunk 0 dropped", "44", "020 7946 0958", "+442079460958"},
		{"national without trunk", "44", "20 7946 0958", "+442079460958"},
		{"Italy keeps its 0", "39", "06 6982 1234", "+390669821234"},
		{"a + number ignores the default", "44", "+1 555 010 0123", "+15550100123"},
		{"letters", "", "+1 555 CALL NOW", ""},
		{"a second +", "", "+1 +555 010 0123", ""},
		{"no digits", "", "+", ""},
		{"empty", "1", "", ""},
		{"too long", "", "+1234567890123456", ""},
		{"too short", "", "+12345", ""},
		{"country code 0", "", "+0 555 010 0123", ""},
	}
	for _, tt := range tests {
		got, err := Normalizer{CountryCode: tt.cc}.Phone(tt.in)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("%s: Phone(%q) = %q, want an error", tt.name, tt.in, got)
		case tt.want != "" && (err != nil || got != tt.want):
			t.Errorf("%s: Phone(%q) = %q, %v; want %q", tt.name, tt.in, got, err, tt.want)
		case err != nil && len(tt.in) > 3 && strings.Contains(err.Error(), tt.in):
			t.Errorf("%s: the error quotes the number: %v", tt.name, err)
		}
	}
	if _, err := (Normalizer{}).Phone("555 0100"); !errors.Is(err, ErrNoCountryCode) {
		t.Errorf("a national number without a default: %v, want ErrNoCountryCode", err)
	}
}

func TestParseCountryCode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"1": "1", "+44": "44", " 353 ": "353", "": "", "0": "", "1234": "", "4a": "", "+": ""} {
		got, err := ParseCountryCode(in)
		if (want == "") != (err != nil) || got != want {
			t.Errorf("ParseCountryCode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestKeysDoNotCollide(t *testing.T) {
	t.Parallel()
	if EmailKey("+15550100123") == PhoneKey("+15550100123") {
		t.Error("an e-mail key equals a phone key")
	}
}
