package engine

import (
	"slices"
	"testing"

	"github.com/hookline/hookline/internal/pii"
)

func TestIdentifiers(t *testing.T) {
	t.Parallel()
	set := loadRules(t, `
object "visit" {
  guests = list(participant)
  note   = string
}
event "clinic.visit" {
  data { visit = visit }
}
`)
	e := New(Options{})
	ev := func(typ, data string) string {
		return `{"specversion":"1.0","id":"1","source":"s","type":"` + typ + `","data":` + data + `}`
	}
	us := pii.Normalizer{CountryCode: "1"}
	tests := []struct {
		name, body string
		n          pii.Normalizer
		want       []string
	}{
		{"a participant's fields, normalised and each once",
			ev("participant.confirmed", `{"appointment":{},"participant":{"email":" Ann@Example.com","phone":"+1 (555) 010-0123","normalized_phone":"+15550100123","name":"Ann"}}`),
			pii.Normalizer{}, []string{"email:ann@example.com", "phone:+15550100123"}},
		{"a message's ends, told apart by the @",
			ev("participant.replied", `{"appointment":{},"participant":{"email":"ann@example.com"},"message":{"from":"+1 555 010 0199","to":"Front Desk <Desk@Clinic.example>","body":"call +15550100777"}}`),
			pii.Normalizer{}, []string{"email:ann@example.com", "email:desk@clinic.example", "phone:+15550100199"}},
		{"a national number is left out without a default country code",
			ev("participant.confirmed", `{"appointment":{},"participant":{"phone":"(555) 010-0123"}}`),
			pii.Normalizer{}, nil},
		{"and taken with one",
			ev("participant.confirmed", `{"appointment":{},"participant":{"phone":"(555) 010-0123"}}`),
			us, []string{"phone:+15550100123"}},
		{"values that are not identifiers are left out",
			ev("participant.confirmed", `{"appointment":{},"participant":{"email":"n/a","phone":"unknown"}}`),
			us, nil},
		{"absent and null objects",
			ev("message.sent", `{"message":{"to":"12345"},"participant":null}`),
			us, nil},
		{"participants nested in a custom type's list",
			ev("clinic.visit", `{"visit":{"note":"bob@example.com","guests":[{"email":"ann@example.com"},{"phone":"+44 20 7946 0958"},{"email":"ANN@example.com"}]}}`),
			us, []string{"email:ann@example.com", "phone:+442079460958"}},
	}
	for _, tt := range tests {
		got, err := e.Decode(set.Set().Schema, []byte(tt.body))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if ids := got.Identifiers(tt.n); !slices.Equal(ids, tt.want) {
			t.Errorf("%s: Identifiers = %q, want %q", tt.name, ids, tt.want)
		}
	}
}
