package rules

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hookline/hookline/actions"
)

// Schedule is a `schedule` block, on an action or on a trigger as the
// default for its actions: when the action runs, and which later events
// cancel it while it waits.
type Schedule struct {
	// Delay counts from the event's time (its arrival when it has none).
	Delay time.Duration
	// At is a template giving an RFC 3339 time; exactly one of Delay and
	// At is set, or neither when a window alone holds immediate actions.
	At     *hcl.Attribute
	Window *Window
	// CancelOn lists event types that cancel a delivery still waiting
	// when Correlate gives the same value for them as for its event.
	CancelOn       []string
	Correlate      string
	CorrelateRange hcl.Range
	// Correlates holds Correlate compiled per event type: the trigger's
	// and each of CancelOn. Every one type-checks, or the set has errors.
	Correlates map[string]cel.Program
	// LateAfter, when set, expires a delivery that could not start within
	// this long of its due time rather than send it late.
	LateAfter time.Duration
	// delayText and lateText are the durations as written, for plans.
	delayText, lateText string
	DeclRange           hcl.Range
}

// Window holds deliveries until the next time it is open: from From to
// To (minutes after midnight; From > To runs over midnight and belongs to
// the day it opens; To may be 24:00) on Days, in a time zone.
type Window struct {
	// TimeZone is the time_zone attribute, a template over the event; nil
	// means UTC. Zone is its value when it reads no event field.
	TimeZone  *hcl.Attribute
	Zone      *time.Location
	Days      [7]bool // by time.Weekday
	From, To  int
	DeclRange hcl.Range
}

// MaxScheduleDelay bounds delay and late_after: a year. A rule that waits
// longer is a calendar, not a webhook.
const MaxScheduleDelay = 366 * 24 * time.Hour

var scheduleSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "delay"}, {Name: "at"}, {Name: "cancel_on"}, {Name: "correlate"}, {Name: "late_after"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "window"}},
}

var windowSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "time_zone"}, {Name: "days"}, {Name: "from", Required: true}, {Name: "to", Required: true},
	},
}

var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// decodeScheduleBlock reads a schedule block for a trigger listening to types.
func (c *checker) decodeScheduleBlock(b *hcl.Block, types []*EventType) *Schedule {
	s := &Schedule{DeclRange: b.DefRange}
	content, diags := b.Body.Content(scheduleSchema)
	c.diags = append(c.diags, diags...)
	bad := func(rng hcl.Range, summary, detail string) {
		c.diags = append(c.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr()})
	}
	if a, ok := content.Attributes["delay"]; ok {
		s.Delay, s.delayText = c.decodeDelay(a, "delay", `"2h"`)
	}
	if a, ok := content.Attributes["late_after"]; ok {
		s.LateAfter, s.lateText = c.decodeDelay(a, "late_after", `"6h"`)
	}
	if a, ok := content.Attributes["at"]; ok {
		if _, hasDelay := content.Attributes["delay"]; hasDelay {
			bad(a.NameRange, "Both delay and at", "A schedule waits either a delay after the event or until a time given by at; remove one of them.")
		} else {
			s.At = a
			c.checkAt(a, types)
			c.set.recordUsage(a.Expr) // rendering converts only the fields templates read
		}
	}
	for i, wb := range content.Blocks {
		if i > 0 {
			c.diags = append(c.diags, duplicateDiag("window block", "window", wb.DefRange, content.Blocks[0].DefRange))
			continue
		}
		s.Window = c.decodeWindow(wb, types)
	}
	_, hasDelay := content.Attributes["delay"]
	if !hasDelay && s.At == nil && len(content.Blocks) == 0 && !diags.HasErrors() {
		bad(b.DefRange, "Schedule without a time", `Say when the action runs: delay = "2h" (after the event), at = "${timeadd(appointment.end_time, "24h")}" (a time from the event), or a window block for quiet hours.`)
	}
	cancel, hasCancel := content.Attributes["cancel_on"]
	corr, hasCorr := content.Attributes["correlate"]
	switch {
	case hasCancel && !hasCorr:
		bad(cancel.NameRange, "cancel_on without correlate", `Say which waiting deliveries an event cancels: correlate = "appointment.id" cancels those whose event gives the same value. Without it, one cancelling event would cancel everyone's.`)
	case hasCorr && !hasCancel:
		bad(corr.NameRange, "correlate without cancel_on", `correlate only matters with cancel_on, the event types that cancel a waiting delivery, such as cancel_on = ["participant.confirmed"]; add it or remove correlate.`)
	case hasCancel:
		s.CancelOn = c.decodeCancelOn(cancel)
		c.compileCorrelate(s, corr, types)
	}
	if s.LateAfter > 0 && !hasDelay && s.At == nil && s.Window == nil {
		bad(content.Attributes["late_after"].NameRange, "late_after without a time", "late_after expires a delivery that could not run in time; it needs delay, at or a window.")
	}
	return s
}

func (c *checker) decodeDelay(a *hcl.Attribute, name, example string) (time.Duration, string) {
	var text string
	if d := decodeString(a, &text); d.HasErrors() {
		c.diags = append(c.diags, d...)
		return 0, ""
	}
	dur, err := time.ParseDuration(text)
	if err != nil || dur <= 0 || dur > MaxScheduleDelay {
		c.diags = append(c.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for " + name,
			Detail:   fmt.Sprintf("%q is not a duration from 1s to 8784h (366 days); write it like %s, \"90m\" or \"48h\".", text, example),
			Subject:  a.Expr.Range().Ptr(),
		})
		return 0, ""
	}
	return dur, text
}

// checkAt checks the at template for every event type. A literal must be
// an RFC 3339 time, and a field read on its own must be a timestamp;
// anything else (timeadd, formatdate) is checked when rendered.
func (c *checker) checkAt(a *hcl.Attribute, types []*EventType) {
	if readsEnv(a.Expr) {
		c.diags = append(c.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for at", Detail: "at must not use env(): a schedule is shown as it is.", Subject: a.Expr.Range().Ptr()})
		return
	}
	c.checkTemplate(a, &actions.Attr{Name: "at", Kind: actions.Template, Check: func(s string) string {
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			return fmt.Sprintf("at must give an RFC 3339 time such as \"2026-12-02T10:00:00-05:00\", not %q.", s)
		}
		return ""
	}}, types)
	for _, et := range types {
		if f, name := c.fieldRead(a.Expr, et); f != nil && f.Kind != KindTimestamp {
			c.diags = append(c.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for at",
				Detail:   fmt.Sprintf("%s is a %s, not a time; use a timestamp field such as appointment.start_time, or timeadd() over one.", name, f),
				Subject:  a.Expr.Range().Ptr(),
			})
			return
		}
	}
}

// fieldRead returns the schema type of the field an expression reads when
// it is nothing but that field ("${appointment.title}" or
// appointment.title), and its dotted name.
func (c *checker) fieldRead(expr hcl.Expression, et *EventType) (*Type, string) {
	if w, ok := expr.(*hclsyntax.TemplateWrapExpr); ok {
		expr = w.Wrapped
	}
	trav, ok := expr.(*hclsyntax.ScopeTraversalExpr)
	if !ok {
		return nil, ""
	}
	var names []string
	for _, step := range trav.Traversal {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			names = append(names, s.Name)
		case hcl.TraverseAttr:
			names = append(names, s.Name)
		default:
			return nil, ""
		}
	}
	var t *Type
	for i, n := range names {
		var fields []*Field
		if i == 0 {
			fields = et.Data
		} else if t != nil && t.Kind == KindObject && t.Object != nil {
			fields = t.Object.Fields
		}
		t = nil
		for _, f := range fields {
			if f.Name == n {
				t = f.Type
			}
		}
		if t == nil {
			return nil, ""
		}
	}
	return t, strings.Join(names, ".")
}

func (c *checker) decodeWindow(b *hcl.Block, types []*EventType) *Window {
	w := &Window{DeclRange: b.DefRange, Zone: time.UTC}
	content, diags := b.Body.Content(windowSchema)
	c.diags = append(c.diags, diags...)
	if a, ok := content.Attributes["time_zone"]; ok {
		c.decodeTimeZone(w, a, types)
	}
	if a, ok := content.Attributes["days"]; ok {
		c.decodeDays(w, a)
	} else {
		w.Days = [7]bool{true, true, true, true, true, true, true}
	}
	from, okFrom := content.Attributes["from"]
	to, okTo := content.Attributes["to"]
	if okFrom && okTo {
		f, fok := c.decodeClock(from, false)
		t, tok := c.decodeClock(to, true)
		if fok && tok {
			w.From, w.To = f, t
			if f == t {
				c.diags = append(c.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Empty window",
					Detail:   `from and to are the same time, so the window never opens; for a whole day write from = "00:00" and to = "24:00".`,
					Subject:  hcl.RangeBetween(from.Range, to.Range).Ptr(),
				})
			}
		}
	}
	return w
}

func (c *checker) decodeTimeZone(w *Window, a *hcl.Attribute, types []*EventType) {
	if readsEnv(a.Expr) {
		c.diags = append(c.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for time_zone", Detail: "time_zone must not use env().", Subject: a.Expr.Range().Ptr()})
		return
	}
	w.TimeZone = a
	c.set.recordUsage(a.Expr)
	c.checkTemplate(a, &actions.Attr{Name: "time_zone", Kind: actions.Template, Check: func(s string) string {
		loc, err := LoadZone(s)
		if err != nil {
			return err.Error() + "."
		}
		w.Zone = loc
		return ""
	}}, types)
	if len(a.Expr.Variables()) == 0 && !callsFunction(a.Expr, isDateFunction) {
		w.TimeZone = nil // static: Zone holds it
	}
}

// LoadZone is time.LoadLocation with a sentence for rule authors. It
// refuses "Local": the server's own zone is not a rule's business.
func LoadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("%q is not a time zone; use an IANA name such as \"America/New_York\" or \"UTC\"", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%q is not an IANA time zone; use a name such as \"America/New_York\", \"Europe/London\" or \"UTC\"", name)
	}
	return loc, nil
}

func (c *checker) decodeDays(w *Window, a *hcl.Attribute) {
	var names []string
	if !c.stringList(a, &names, `days must be a list of day names, such as ["mon", "tue", "wed", "thu", "fri"].`) {
		return
	}
	for _, n := range names {
		i := slices.Index(dayNames, strings.ToLower(n))
		if i < 0 {
			c.diags = append(c.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown day",
				Detail:   fmt.Sprintf("%q is not a day; use %s.%s", n, strings.Join(dayNames, ", "), didYouMean(strings.ToLower(n), dayNames)),
				Subject:  a.Expr.Range().Ptr(),
			})
			continue
		}
		w.Days[i] = true
	}
	if len(names) == 0 {
		c.diags = append(c.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Empty days", Detail: "A window with no days never opens; list at least one day, or remove days for every day.", Subject: a.Expr.Range().Ptr()})
	}
}

// decodeClock reads "HH:MM" as minutes after midnight; "24:00" only as a
// window's end.
func (c *checker) decodeClock(a *hcl.Attribute, end bool) (int, bool) {
	var text string
	if d := decodeString(a, &text); d.HasErrors() {
		c.diags = append(c.diags, d...)
		return 0, false
	}
	h, m, ok := strings.Cut(text, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	valid := ok && len(h) == 2 && len(m) == 2 && err1 == nil && err2 == nil && hh >= 0 && mm >= 0 && mm < 60 && (hh < 24 || (end && hh == 24 && mm == 0))
	if !valid {
		upper := "23:59"
		if end {
			upper = "24:00"
		}
		c.diags = append(c.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for " + a.Name,
			Detail:   fmt.Sprintf("%q is not a time of day; write it on a 24-hour clock from \"00:00\" to %q, such as \"08:00\" or \"20:30\".", text, upper),
			Subject:  a.Expr.Range().Ptr(),
		})
		return 0, false
	}
	return hh*60 + mm, true
}

func (c *checker) decodeCancelOn(a *hcl.Attribute) []string {
	var names []string
	if !c.stringList(a, &names, `cancel_on must be a list of event types, such as ["participant.confirmed", "appointment.deleted"].`) {
		return nil
	}
	var out []string
	for _, n := range names {
		if _, ok := c.set.Schema.Events[n]; !ok {
			c.diags = append(c.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown event type",
				Detail:   fmt.Sprintf("There is no event type %q in schema.hcl or in this rules directory.%s", n, didYouMean(n, c.set.Schema.EventNames())),
				Subject:  a.Expr.Range().Ptr(),
			})
			continue
		}
		if !contains(out, n) {
			out = append(out, n)
		}
	}
	if len(names) == 0 {
		c.diags = append(c.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Empty cancel_on", Detail: "List the event types that cancel a waiting delivery, or remove cancel_on and correlate.", Subject: a.Expr.Range().Ptr()})
	}
	return out
}

// compileCorrelate compiles correlate for the trigger's types and every
// cancel_on type: the value is computed from the waiting delivery's event
// and from the cancelling one, so it must mean something for both.
func (c *checker) compileCorrelate(s *Schedule, a *hcl.Attribute, types []*EventType) {
	src, ok := c.celSource(a, "Invalid value for correlate", `correlate = "appointment.id"`)
	if !ok {
		return
	}
	s.Correlate, s.CorrelateRange = src, a.Expr.Range()
	s.Correlates = map[string]cel.Program{}
	all := append([]*EventType(nil), types...)
	for _, n := range s.CancelOn {
		if et := c.set.Schema.Events[n]; et != nil && !slices.Contains(all, et) {
			all = append(all, et)
		}
	}
	var found onceEach
	for _, et := range all {
		ast, diags := c.compileCELValue(s.Correlate, s.CorrelateRange, et, len(all) > 1)
		found.add(diags)
		if ast == nil {
			continue
		}
		env, _ := c.cel.forType(et)
		prg, err := c.cel.filterProgram(env, ast, true)
		if err != nil {
			c.diags = append(c.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid correlate", Detail: fmt.Sprintf("CEL: %v.", err), Subject: s.CorrelateRange.Ptr()})
			continue
		}
		s.Correlates[et.Name] = prg
	}
	c.diags = append(c.diags, mergeNotInEvent(found.diags)...)
}

// stringList decodes a list of literal strings, or reports want.
func (c *checker) stringList(a *hcl.Attribute, dst *[]string, want string) bool {
	v, d := a.Expr.Value(nil)
	if d.HasErrors() || v.IsNull() || !v.IsWhollyKnown() || !(v.Type().IsTupleType() || v.Type().IsListType()) {
		c.diags = append(c.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for " + a.Name, Detail: want, Subject: a.Expr.Range().Ptr()})
		return false
	}
	for _, e := range v.AsValueSlice() {
		if e.IsNull() || e.Type().FriendlyName() != "string" {
			c.diags = append(c.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for " + a.Name, Detail: want, Subject: a.Expr.Range().Ptr()})
			return false
		}
		*dst = append(*dst, e.AsString())
	}
	return true
}

// describe adds the schedule to a plan's resource, one entry per
// attribute ("schedule.delay", "schedule.window.from"), so that a change
// shows as the attribute that changed. An inherited trigger schedule is
// shown on each action, since that is what runs.
func (sc *Schedule) describe(s *Set, r *resource) {
	if sc.Delay > 0 {
		r.attrs["schedule.delay"] = fmt.Sprintf("%q", sc.delayText)
	}
	if sc.At != nil {
		r.setExpr(s, "schedule.at", sc.At.Expr)
	}
	if sc.LateAfter > 0 {
		r.attrs["schedule.late_after"] = fmt.Sprintf("%q", sc.lateText)
	}
	if len(sc.CancelOn) > 0 {
		r.attrs["schedule.cancel_on"] = formatList(sc.CancelOn)
		r.attrs["schedule.correlate"] = fmt.Sprintf("%q", sc.Correlate)
	}
	if w := sc.Window; w != nil {
		if w.TimeZone != nil {
			r.setExpr(s, "schedule.window.time_zone", w.TimeZone.Expr)
		} else {
			r.attrs["schedule.window.time_zone"] = fmt.Sprintf("%q", w.Zone.String())
		}
		var days []string
		for i, on := range w.Days {
			if on {
				days = append(days, dayNames[i])
			}
		}
		r.attrs["schedule.window.days"] = formatList(days)
		r.attrs["schedule.window.from"] = fmt.Sprintf("%q", clockText(w.From))
		r.attrs["schedule.window.to"] = fmt.Sprintf("%q", clockText(w.To))
	}
}

func clockText(min int) string { return fmt.Sprintf("%02d:%02d", min/60, min%60) }

// ScheduleAttrs is an action's schedule as a plan shows it, one entry per
// attribute ("schedule.delay", "schedule.window.from"), templates as
// written and any reading env() masked; nil without a schedule.
func (s *Set) ScheduleAttrs(a *Action) map[string]string {
	if a.Schedule == nil {
		return nil
	}
	r := newResource("action", a.Address, a.DeclRange)
	a.Schedule.describe(s, &r)
	return r.shown()
}
