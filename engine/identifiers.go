package engine

import (
	"strings"

	"github.com/hookline/hookline/internal/pii"
	"github.com/hookline/hookline/rules"
)

// identifierFields names the fields of schema objects that identify a
// person, by object and field, with the kind of identifier each holds.
// The store indexes an event by them when it accepts it, so that erasing
// a person's data (delivery.Store.Erase) finds their events without
// reading every body. They are the participant's contact fields, and a
// message's ends, which hold the participant's address or number (or the
// sender's own, indexed too: harmless, as nobody erases those). Objects
// are found wherever the event carries them, nested or in lists, custom
// event types included.
var identifierFields = map[string][]identifierField{
	"participant": {{"email", pii.KindEmail}, {"phone", pii.KindPhone}, {"normalized_phone", pii.KindPhone}},
	"message":     {{"to", kindEither}, {"from", kindEither}},
}

type identifierField struct{ name, kind string }

// kindEither is a field holding an e-mail address or a phone number, told
// apart by the @.
const kindEither = "either"

// Identifiers returns the keys (pii.EmailKey, pii.PhoneKey) of the
// personal identifiers the event carries, normalised by n, each once.
// Values that do not normalise (a phone number without a country code and
// no default, a short code) are left out: nobody could ask for them in a
// form that would match.
func (e *Event) Identifiers(n pii.Normalizer) []string {
	if e.schema == nil {
		return nil
	}
	var keys []string
	for _, f := range e.schema.Data {
		keys = appendIdentifiers(keys, e.Data[f.Name], f.Type, n)
	}
	return keys
}

func appendIdentifiers(keys []string, v any, t *rules.Type, n pii.Normalizer) []string {
	switch t.Kind {
	case rules.KindList:
		l, _ := v.([]any)
		for _, el := range l {
			keys = appendIdentifiers(keys, el, t.Elem, n)
		}
	case rules.KindMap:
		m, _ := v.(map[string]any)
		for _, el := range m {
			keys = appendIdentifiers(keys, el, t.Elem, n)
		}
	case rules.KindObject:
		m, _ := v.(map[string]any)
		if m == nil {
			return keys
		}
		for _, f := range identifierFields[t.Object.Name] {
			if s, ok := m[f.name].(string); ok && s != "" {
				keys = appendKey(keys, identifierKey(s, f.kind, n))
			}
		}
		for _, f := range t.Object.Fields {
			switch f.Type.Kind {
			case rules.KindObject, rules.KindList, rules.KindMap:
				keys = appendIdentifiers(keys, m[f.Name], f.Type, n)
			}
		}
	}
	return keys
}

// identifierKey is the key of value s of a field of kind, or "" when s
// does not normalise.
func identifierKey(s, kind string, n pii.Normalizer) string {
	if kind == kindEither {
		kind = pii.KindPhone
		if strings.Contains(s, "@") {
			kind = pii.KindEmail
		}
	}
	if kind == pii.KindEmail {
		if a, err := pii.Email(s); err == nil {
			return pii.EmailKey(a)
		}
		return ""
	}
	if p, err := n.Phone(s); err == nil {
		return pii.PhoneKey(p)
	}
	return ""
}

// appendKey adds k unless it is empty or present: an event holds a
// handful, so a scan beats a map.
func appendKey(keys []string, k string) []string {
	if k == "" {
		return keys
	}
	for _, have := range keys {
		if have == k {
			return keys
		}
	}
	return append(keys, k)
}
