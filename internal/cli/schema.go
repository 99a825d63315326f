package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing/fstest"

	"github.com/hookline/hookline"
	"github.com/hookline/hookline/engine"
	"github.com/hookline/hookline/rules"
)

// runSchema is `hookline schema [EVENT_TYPE]`: the event catalogue, so that
// writing a rule does not start with reading schema.hcl.
func runSchema(e *env, args []string) int {
	fs := newFlags(e, "schema", "[EVENT_TYPE]")
	format := fs.String("format", "text", "output format: text, json or markdown")
	dir := fs.String("rules", "", "also list the event types and objects this rules directory declares")
	pos, code := parseFlags(fs, args)
	if code >= 0 {
		return code
	}
	if len(pos) > 1 {
		fmt.Fprintln(e.stderr, "hookline schema: give at most one event type")
		return exitUsage
	}
	if *format != "text" && *format != "json" && *format != "markdown" {
		fmt.Fprintf(e.stderr, "hookline schema: unknown --format %q (use text, json or markdown)\n", *format)
		return exitUsage
	}
	builtin, _, diags := engine.Load(fstest.MapFS{}, "", rules.Options{Types: e.types})
	if builtin == nil {
		fmt.Fprintf(e.stderr, "hookline schema: %s\n", diags.Error())
		return exitFailure
	}
	set := builtin
	if *dir != "" {
		s, _, diags := engine.LoadDir(*dir, rules.Options{Types: e.types})
		if s == nil {
			// The schema itself did not resolve: only those errors matter.
			(&diagWriter{}).writeText(e.stderr, rules.OnlyErrors(diags))
			fmt.Fprintf(e.stderr, "hookline schema: the event types in %s are invalid; run 'hookline validate %s' for details.\n", *dir, *dir)
			return exitFailure
		}
		if diags.HasErrors() {
			fmt.Fprintf(e.stderr, "hookline schema: %s has errors ('hookline validate %s' shows them); its event types are listed as declared.\n", *dir, *dir)
		}
		set = s
	}
	c := newCatalogue(set, builtin)
	if len(pos) == 1 {
		et, ok := set.Schema.Events[pos[0]]
		if !ok {
			msg := fmt.Sprintf("hookline schema: unknown event type %q", pos[0])
			if s := rules.Suggest(pos[0], set.Schema.EventNames()); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			fmt.Fprintln(e.stderr, msg+" ('hookline schema' lists them all)")
			return exitFailure
		}
		c.only(et)
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(c); err != nil {
			fmt.Fprintf(e.stderr, "hookline schema: %v\n", err)
			return exitFailure
		}
	case "markdown":
		c.writeMarkdown(e.stdout)
	default:
		c.writeText(e.stdout)
	}
	return exitOK
}

// catalogue is what schema prints, in every format.
type catalogue struct {
	Events   []catEvent  `json:"events"`
	Objects  []catObject `json:"objects"`
	Envelope []catField  `json:"envelope"`
	single   bool
}

type catEvent struct {
	Type        string     `json:"type"`
	Description string     `json:"description"`
	Custom      string     `json:"declared_in,omitempty"` // file:line of a rules directory's own type
	Data        []catField `json:"data"`
	// Fields lists every field the event carries, by the path filters and
	// templates read it with: appointment.calendar.name.
	Fields []catField `json:"fields"`
}

type catObject struct {
	Name   string     `json:"name"`
	Custom string     `json:"declared_in,omitempty"`
	Fields []catField `json:"fields"`
}

type catField struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Optional bool   `json:"optional,omitempty"` // event data that may be absent
	Comment  string `json:"comment,omitempty"`  // the declaration's line comment
}

func newCatalogue(set, builtin *rules.Set) *catalogue {
	c := &catalogue{}
	comment := func(f *rules.Field) string { return lineComment(set, f) }
	for _, f := range rules.Envelope().Fields {
		c.Envelope = append(c.Envelope, catField{Name: f.Name, Type: f.Type.String()})
	}
	for _, name := range set.Schema.EventNames() {
		et := set.Schema.Events[name]
		ce := catEvent{Type: name, Description: et.Description, Data: []catField{}}
		if !et.Builtin {
			ce.Custom = fmt.Sprintf("%s:%d", et.DeclRange.Filename, et.DeclRange.Start.Line)
		}
		for _, f := range et.Data {
			ce.Data = append(ce.Data, catField{Name: f.Name, Type: f.Type.String(), Optional: f.Optional, Comment: comment(f)})
		}
		for _, f := range rules.Envelope().Fields {
			ce.Fields = append(ce.Fields, catField{Name: "event." + f.Name, Type: f.Type.String()})
		}
		for _, f := range et.Data {
			ce.Fields = append(ce.Fields, catField{Name: f.Name, Type: f.Type.String(), Optional: f.Optional, Comment: comment(f)})
			ce.Fields = appendPaths(ce.Fields, f.Name, f.Type, comment)
		}
		c.Events = append(c.Events, ce)
	}
	names := make([]string, 0, len(set.Schema.Objects))
	for n := range set.Schema.Objects {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		o := set.Schema.Objects[n]
		co := catObject{Name: n, Fields: []catField{}}
		if _, ok := builtin.Schema.Objects[n]; !ok {
			co.Custom = fmt.Sprintf("%s:%d", o.DeclRange.Filename, o.DeclRange.Start.Line)
		}
		for _, f := range o.Fields {
			co.Fields = append(co.Fields, catField{Name: f.Name, Type: f.Type.String(), Comment: comment(f)})
		}
		c.Objects = append(c.Objects, co)
	}
	return c
}

// appendPaths adds the fields below a value of type t, by path. Schemas
// have no cycles (Load refuses them), so this ends.
func appendPaths(out []catField, path string, t *rules.Type, comment func(*rules.Field) string) []catField {
	switch t.Kind {
	case rules.KindList:
		return appendPaths(out, path+"[]", t.Elem, comment)
	case rules.KindMap:
		return appendPaths(out, path+"[KEY]", t.Elem, comment)
	case rules.KindObject:
		for _, f := range t.Object.Fields {
			p := path + "." + f.Name
			out = append(out, catField{Name: p, Type: f.Type.String(), Comment: comment(f)})
			out = appendPaths(out, p, f.Type, comment)
		}
	}
	return out
}

// lineComment is the comment at the end of a field's declaration, which
// schema.hcl uses to say what a field holds ("minutes").
func lineComment(set *rules.Set, f *rules.Field) string {
	src := hookline.Schema
	if file, ok := set.Files[f.Range.Filename]; ok {
		src = file.Bytes
	} else if f.Range.Filename != "schema.hcl" {
		return ""
	}
	if f.Range.End.Byte > len(src) {
		return ""
	}
	rest := src[f.Range.End.Byte:]
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		rest = rest[:i]
	}
	rest = bytes.TrimSpace(rest)
	for _, mark := range []string{"#", "//"} {
		if c, ok := bytes.CutPrefix(rest, []byte(mark)); ok {
			return string(bytes.TrimSpace(c))
		}
	}
	return ""
}

// only narrows the catalogue to one event type and the objects it uses.
func (c *catalogue) only(et *rules.EventType) {
	c.single = true
	for _, e := range c.Events {
		if e.Type == et.Name {
			c.Events = []catEvent{e}
			break
		}
	}
	used := map[string]bool{}
	var visit func(t *rules.Type)
	visit = func(t *rules.Type) {
		for t.Kind == rules.KindList || t.Kind == rules.KindMap {
			t = t.Elem
		}
		if t.Kind != rules.KindObject || used[t.Object.Name] {
			return
		}
		used[t.Object.Name] = true
		for _, f := range t.Object.Fields {
			visit(f.Type)
		}
	}
	for _, f := range et.Data {
		visit(f.Type)
	}
	objs := c.Objects[:0:0]
	for _, o := range c.Objects {
		if used[o.Name] {
			objs = append(objs, o)
		}
	}
	c.Objects = objs
}

func (f catField) typeText() string {
	t := f.Type
	if f.Optional {
		t += " (optional: may be absent)"
	}
	return t
}

func (c *catalogue) writeText(w io.Writer) {
	if c.single {
		e := c.Events[0]
		fmt.Fprintf(w, "%s: %s%s\n\nFields, as filters and templates read them:\n", e.Type, e.Description, customNote(e.Custom))
		writeFieldTable(w, e.Fields, "  ")
		return
	}
	fmt.Fprintf(w, "Event types (%d) and the objects their data carries:\n", len(c.Events))
	for _, e := range c.Events {
		fmt.Fprintf(w, "\n  %s%s\n    %s\n", e.Type, customNote(e.Custom), e.Description)
		writeFieldTable(w, e.Data, "    ")
	}
	fmt.Fprintf(w, "\nObjects (%d):\n", len(c.Objects))
	for _, o := range c.Objects {
		fmt.Fprintf(w, "\n  %s%s\n", o.Name, customNote(o.Custom))
		writeFieldTable(w, o.Fields, "    ")
	}
	fmt.Fprintf(w, "\nEvery event type also carries event, the CloudEvents envelope: ")
	parts := make([]string, len(c.Envelope))
	for i, f := range c.Envelope {
		parts[i] = f.Name + " (" + f.Type + ")"
	}
	fmt.Fprintf(w, "%s.\nRun 'hookline schema EVENT_TYPE' for every field of one event type, by path.\n", strings.Join(parts, ", "))
}

func customNote(at string) string {
	if at == "" {
		return ""
	}
	return " (declared in " + at + ")"
}

func writeFieldTable(w io.Writer, fields []catField, indent string) {
	width := 0
	for _, f := range fields {
		width = max(width, len(f.Name))
	}
	for _, f := range fields {
		line := fmt.Sprintf("%s%-*s  %s", indent, width, f.Name, f.typeText())
		if f.Comment != "" {
			line += "  # " + f.Comment
		}
		fmt.Fprintln(w, line)
	}
}

func (c *catalogue) writeMarkdown(w io.Writer) {
	table := func(fields []catField, head string) {
		fmt.Fprintf(w, "| %s | type | |\n|---|---|---|\n", head)
		for _, f := range fields {
			fmt.Fprintln(w, strings.TrimSpace(fmt.Sprintf("| `%s` | %s | %s", f.Name, mdCell(f.typeText()), mdCell(f.Comment)))+" |")
		}
	}
	if c.single {
		e := c.Events[0]
		fmt.Fprintf(w, "### `%s`\n\n%s%s\n\n", e.Type, mdCell(e.Description), customNote(e.Custom))
		table(e.Fields, "field")
		return
	}
	fmt.Fprintf(w, "### Event types\n\n| event type | description | data |\n|---|---|---|\n")
	for _, e := range c.Events {
		data := make([]string, len(e.Data))
		for i, f := range e.Data {
			data[i] = "`" + f.Name + "`"
			if f.Optional {
				data[i] += " (optional)"
			}
		}
		fmt.Fprintf(w, "| `%s` | %s%s | %s |\n", e.Type, mdCell(e.Description), customNote(e.Custom), strings.Join(data, ", "))
	}
	fmt.Fprintf(w, "\nEvery event type also carries `event`, the CloudEvents envelope.\n")
	for _, o := range c.Objects {
		fmt.Fprintf(w, "\n### `%s`%s\n\n", o.Name, customNote(o.Custom))
		table(o.Fields, "field")
	}
	fmt.Fprintf(w, "\n### `event`\n\n")
	table(c.Envelope, "field")
}

func mdCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
