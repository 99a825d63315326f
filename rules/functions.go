package rules

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"time"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// Sensitive marks a cty value derived from env(): it is a secret and must
// never be shown. cty carries marks through every operation, so anything
// computed from a secret stays marked.
const Sensitive = sensitiveMark("sensitive")

type sensitiveMark string

// stdFunctions are the go-cty standard functions that make sense in
// messages, those that can build far more than they are given bounded to
// limit bytes, and the wrappers of `for` loops (see countLoops). They are
// pure: the same set serves validate and delivery.
func stdFunctions(limit int) map[string]function.Function {
	funcs := map[string]function.Function{
		"abs":           stdlib.AbsoluteFunc,
		"base64encode":  base64EncodeFunc,
		"ceil":          stdlib.CeilFunc,
		"chomp":         stdlib.ChompFunc,
		"coalesce":      coalesceFunc,
		"compact":       stdlib.CompactFunc,
		"concat":        stdlib.ConcatFunc,
		"contains":      stdlib.ContainsFunc,
		"distinct":      stdlib.DistinctFunc,
		"flatten":       stdlib.FlattenFunc,
		"floor":         stdlib.FloorFunc,
		"format":        stdlib.FormatFunc,
		"formatdate":    stdlib.FormatDateFunc,
		"formatlist":    stdlib.FormatListFunc,
		"indent":        stdlib.IndentFunc,
		"join":          stdlib.JoinFunc,
		"jsondecode":    stdlib.JSONDecodeFunc,
		"jsonencode":    stdlib.JSONEncodeFunc,
		"keys":          stdlib.KeysFunc,
		"length":        stdlib.LengthFunc,
		"lookup":        stdlib.LookupFunc,
		"lower":         stdlib.LowerFunc,
		"max":           stdlib.MaxFunc,
		"merge":         stdlib.MergeFunc,
		"min":           stdlib.MinFunc,
		"parseint":      stdlib.ParseIntFunc,
		"regex":         stdlib.RegexFunc,
		"regex_replace": stdlib.RegexReplaceFunc,
		"replace":       stdlib.ReplaceFunc,
		"reverse":       stdlib.ReverseListFunc,
		"sort":          stdlib.SortFunc,
		"split":         stdlib.SplitFunc,
		"strlen":        stdlib.StrlenFunc,
		"substr":        stdlib.SubstrFunc,
		"timeadd":       stdlib.TimeAddFunc,
		"title":         stdlib.TitleFunc,
		"tostring":      toStringFunc,
		"trim":          stdlib.TrimFunc,
		"trimprefix":    stdlib.TrimPrefixFunc,
		"trimspace":     stdlib.TrimSpaceFunc,
		"trimsuffix":    stdlib.TrimSuffixFunc,
		"upper":         stdlib.UpperFunc,
		"urlencode":     urlEncodeFunc,
		"values":        stdlib.ValuesFunc,
	}
	boundFunctions(funcs, limit)
	for name, fn := range loopFunctions() {
		funcs[name] = fn
	}
	return funcs
}

// coalesceFunc returns the first argument that is neither null nor an empty
// string. Absent event fields read as "", so the cty version (which skips
// only nulls) would never fall through to the default.
var coalesceFunc = function.New(&function.Spec{
	Description: "Returns the first argument that is not null or empty.",
	VarParam:    &function.Parameter{Name: "vals", Type: cty.String, AllowNull: true, AllowUnknown: true, AllowMarked: true},
	Type:        function.StaticReturnType(cty.String),
	RefineResult: func(b *cty.RefinementBuilder) *cty.RefinementBuilder {
		return b.NotNull()
	},
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		for _, a := range args {
			if !a.IsKnown() {
				return cty.UnknownVal(cty.String), nil
			}
			v, m := a.Unmark()
			if v.IsNull() || v.AsString() == "" {
				continue
			}
			return v.WithMarks(m), nil
		}
		return cty.NilVal, function.NewArgErrorf(0, "all arguments are empty; add a non-empty default as the last argument")
	},
})

var toStringFunc = function.New(&function.Spec{
	Description: "Converts a number or bool to a string.",
	Params:      []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType, AllowNull: true, AllowMarked: true}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v, m := args[0].Unmark()
		if v.IsNull() {
			return cty.StringVal("").WithMarks(m), nil
		}
		s, err := convert.Convert(v, cty.String)
		if err != nil {
			return cty.NilVal, function.NewArgErrorf(0, "cannot convert %s to a string", v.Type().FriendlyName())
		}
		return s.WithMarks(m), nil
	},
})

var urlEncodeFunc = function.New(&function.Spec{
	Description: "Escapes a string for use in a URL query.",
	Params:      []function.Parameter{{Name: "s", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.StringVal(url.QueryEscape(args[0].AsString())), nil
	},
})

var base64EncodeFunc = function.New(&function.Spec{
	Description: "Encodes a string as standard base64.",
	Params:      []function.Parameter{{Name: "s", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.StringVal(base64.StdEncoding.EncodeToString([]byte(args[0].AsString()))), nil
	},
})

// dateFormats are the Apptoto-style helpers: each formats an RFC 3339 time
// in the appointment's time zone (or the zone given as a second argument).
var dateFormats = map[string]string{
	"date_phrase":          "Monday, January 2",
	"time_phrase":          "3:04 PM",
	"date_and_time_phrase": "Monday, January 2 at 3:04 PM",
	"day_and_time_phrase":  "Monday at 3:04 PM",
	"date_with_year":       "January 2, 2006",
	"short_date":           "1/2/2006",
	"time_zone_abbr":       "MST",
}

// dateFunctions binds the date helpers to a default location: the event's
// appointment (or booking) time zone. An empty time (an absent field)
// formats as "", like Apptoto's templates.
func dateFunctions(loc *time.Location) map[string]function.Function {
	fns := make(map[string]function.Function, len(dateFormats))
	for name, layout := range dateFormats {
		fns[name] = function.New(&function.Spec{
			Description: fmt.Sprintf("Formats an RFC 3339 time as %q in the appointment's time zone.", layout),
			Params:      []function.Parameter{{Name: "time", Type: cty.String}},
			VarParam:    &function.Parameter{Name: "time_zone", Type: cty.String},
			Type:        function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				if len(args) > 2 {
					return cty.NilVal, function.NewArgErrorf(2, "%s takes a time and an optional time zone", name)
				}
				s := args[0].AsString()
				if s == "" {
					return cty.StringVal(""), nil
				}
				t, err := time.Parse(time.RFC3339, s)
				if err != nil {
					return cty.NilVal, function.NewArgErrorf(0, "%q is not an RFC 3339 time such as 2026-12-01T09:00:00-05:00", s)
				}
				l := loc
				if len(args) == 2 {
					if l, err = time.LoadLocation(args[1].AsString()); err != nil {
						return cty.NilVal, function.NewArgErrorf(1, "unknown time zone %q", args[1].AsString())
					}
				}
				if l != nil {
					t = t.In(l)
				}
				return cty.StringVal(t.Format(layout)), nil
			},
		})
	}
	return fns
}

// envFunction builds env(NAME). At validate time resolve returns an unknown
// value (the secret is not needed to check a template); at render time it
// returns a reference token that the engine turns into an actions.Text part.
// Either way the result is marked Sensitive.
func envFunction(resolve func(name string) cty.Value) function.Function {
	return function.New(&function.Spec{
		Description: "Reads a secret from the server's environment. Its value is never shown.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return resolve(args[0].AsString()).Mark(Sensitive), nil
		},
	})
}
