package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/engine"
	"github.com/hookline/hookline/server"
)

func runEval(e *env, args []string) int {
	fs := newFlags(e, "eval", "--event FILE [DIR]")
	eventFile := fs.String("event", "", "the CloudEvent to evaluate, as a JSON file (- for standard input)")
	format := fs.String("format", "text", "output format: text or json")
	nowFlag := fs.String("now", "", "the time the event arrives, RFC 3339, for actions with a schedule (default: now)")
	apiURL := fs.String("server", "", "also list the waiting deliveries on this running server that the event would cancel (with $HOOKLINE_ADMIN_TOKEN)")
	dir, code := parseDir(e, fs, args)
	switch {
	case code >= 0:
		return code
	case *eventFile == "":
		fmt.Fprintln(e.stderr, "hookline eval: --event FILE is required")
		return exitUsage
	case *format != "text" && *format != "json":
		fmt.Fprintf(e.stderr, "hookline eval: unknown --format %q (use text or json)\n", *format)
		return exitUsage
	}
	var now time.Time
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339, *nowFlag)
		if err != nil {
			fmt.Fprintf(e.stderr, "hookline eval: --now %q is not an RFC 3339 time such as 2026-12-02T10:00:00-05:00\n", *nowFlag)
			return exitUsage
		}
		now = t
	}
	var body []byte
	var err error
	if *eventFile == "-" {
		body, err = io.ReadAll(e.stdin)
	} else {
		body, err = os.ReadFile(*eventFile)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "hookline eval: cannot read the event: %v\n", err)
		return exitFailure
	}
	compiled, ok := loadRules(e, dir)
	if !ok {
		return exitFailure
	}
	eng := engine.New(engine.Options{})
	ev, err := eng.Decode(compiled.Set().Schema, body)
	if err != nil {
		fmt.Fprintf(e.stderr, "hookline eval: %s: %v\n", *eventFile, err)
		return exitFailure
	}
	res := eng.Match(context.Background(), compiled, ev, engine.MatchOptions{Explain: true, Now: now})
	var waiting map[engine.Cancel][]server.DeliveryView
	if *apiURL != "" && len(res.Cancels) > 0 {
		if waiting, err = waitingOn(*apiURL, res.Cancels); err != nil {
			return clientError(e, err)
		}
	}
	if *format == "json" {
		return writeEvalJSON(e, res, waiting)
	}
	writeEvalText(e.stdout, res, waiting, *apiURL != "")
	return exitOK
}

// waitingOn asks a running server which of its waiting deliveries each
// cancel names: what the event would cancel there now.
func waitingOn(apiURL string, cancels []engine.Cancel) (map[engine.Cancel][]server.DeliveryView, error) {
	c := newAPIClient(apiURL)
	out := map[engine.Cancel][]server.DeliveryView{}
	for _, cn := range cancels {
		q := url.Values{"status": {"scheduled"}, "address": {cn.Action}, "correlation": {cn.Correlation}, "limit": {"500"}}
		var page server.DeliveryPage
		if err := c.do("GET", "/v1/deliveries", q, nil, &page); err != nil {
			return nil, err
		}
		out[cn] = page.Deliveries
	}
	return out, nil
}

type evalAction struct {
	Address  string         `json:"address"`
	Trigger  string         `json:"trigger"`
	Type     string         `json:"type"`
	Name     string         `json:"name"`
	Rendered map[string]any `json:"rendered"`
	// Due and DueReason are set for an action with a schedule.
	Due       *time.Time `json:"due,omitempty"`
	DueReason string     `json:"due_reason,omitempty"`
}

type evalCancel struct {
	Action      string `json:"action"`
	Correlation string `json:"correlation"`
	// Waiting lists the server's deliveries it would cancel (--server).
	Waiting []string `json:"waiting,omitempty"`
}

type evalSkip struct {
	Trigger string `json:"trigger"`
	Action  string `json:"action,omitempty"`
	Reason  string `json:"reason"`
}

func writeEvalJSON(e *env, res *engine.Result, waiting map[engine.Cancel][]server.DeliveryView) int {
	var event any
	if err := json.Unmarshal(res.Event.Raw, &event); err != nil {
		event = nil
	}
	out := struct {
		Event   any          `json:"event"`
		Actions []evalAction `json:"actions"`
		Skipped []evalSkip   `json:"skipped"`
		Cancels []evalCancel `json:"cancels"`
	}{Event: event, Actions: []evalAction{}, Skipped: []evalSkip{}, Cancels: []evalCancel{}}
	for _, f := range res.Fired {
		d := f.Delivery
		a := evalAction{Address: d.Address, Trigger: d.Trigger, Type: d.Type, Name: d.Name, Rendered: d.Rendered()}
		if f.Timing != nil {
			due := f.Timing.Due.In(f.Timing.Zone)
			a.Due, a.DueReason = &due, f.Timing.Reason
		}
		out.Actions = append(out.Actions, a)
	}
	for _, c := range res.Cancels {
		ec := evalCancel{Action: c.Action, Correlation: c.Correlation}
		for _, d := range waiting[c] {
			ec.Waiting = append(ec.Waiting, d.ID)
		}
		out.Cancels = append(out.Cancels, ec)
	}
	for _, s := range res.NotFired() {
		out.Skipped = append(out.Skipped, evalSkip{Trigger: s.Trigger, Action: s.Action, Reason: s.Reason})
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintf(e.stderr, "hookline eval: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func writeEvalText(w io.Writer, res *engine.Result, waiting map[engine.Cancel][]server.DeliveryView, asked bool) {
	ev := res.Event
	fmt.Fprintf(w, "Event %s %q from %s\n\n", ev.Type, ev.ID, ev.Source)
	if len(res.Fired) == 0 {
		fmt.Fprintln(w, "No action would fire.")
	} else {
		fmt.Fprintf(w, "Would fire %s:\n", pluralize(len(res.Fired), "action"))
	}
	for _, f := range res.Fired {
		d := f.Delivery
		fmt.Fprintf(w, "\n  + %s\n", d.Address)
		if f.Timing != nil {
			fmt.Fprintf(w, "    runs %s\n", f.Timing)
		}
		writeFields(w, d.Rendered(), fieldOrder(f.Action.Spec))
	}
	if len(res.Cancels) > 0 {
		fmt.Fprintln(w, "\nWould cancel the waiting deliveries, if any, of:")
		for _, c := range res.Cancels {
			fmt.Fprintf(w, "  x %s whose event gave %q\n", c.Action, c.Correlation)
			for _, d := range waiting[c] {
				due := ""
				if d.DueAt != nil {
					due = ", due " + d.DueAt.Local().Format(time.DateTime)
				}
				fmt.Fprintf(w, "      %s%s (event %s)\n", d.ID, due, d.EventID)
			}
			if asked && len(waiting[c]) == 0 {
				fmt.Fprintln(w, "      none waits on the server now")
			}
		}
		if !asked {
			fmt.Fprintln(w, "  (only a running server knows which are waiting: add --server URL to ask one)")
		}
	}
	if lines := res.NotFired(); len(lines) > 0 {
		fmt.Fprintln(w, "\nDid not fire:")
		for _, l := range lines {
			name := l.Trigger
			if l.Action != "" {
				name = l.Action
			}
			fmt.Fprintf(w, "  - %s: %s\n", name, l.Reason)
		}
	}
}

// fieldOrder is the order the type declares its attributes in, which is
// the order people read a delivery in; nil for a type this program does not
// know (the fields are then sorted).
func fieldOrder(t *actions.Type) []string {
	if t == nil {
		return nil
	}
	order := make([]string, len(t.Attrs))
	for i, a := range t.Attrs {
		order[i] = a.Name
	}
	return order
}

func writeFields(w io.Writer, fields map[string]any, order []string) {
	width := 0
	for _, k := range order {
		if _, ok := fields[k]; ok {
			width = max(width, len(k))
		}
	}
	for _, k := range order {
		v, ok := fields[k]
		if !ok {
			continue
		}
		switch x := v.(type) {
		case map[string]string:
			keys := make([]string, 0, len(x))
			for hk := range x {
				keys = append(keys, hk)
			}
			sort.Strings(keys)
			for _, hk := range keys {
				fmt.Fprintf(w, "      %-*s = %s: %s\n", width, k, hk, quote(x[hk]))
			}
		case []string:
			q := make([]string, len(x))
			for i, s := range x {
				q[i] = quote(s)
			}
			fmt.Fprintf(w, "      %-*s = [%s]\n", width, k, strings.Join(q, ", "))
		case string:
			fmt.Fprintf(w, "      %-*s = %s\n", width, k, quote(x))
		}
	}
}

// quote shows multi-line text as an indented block and the rest quoted.
func quote(s string) string {
	if !strings.Contains(strings.TrimRight(s, "\n"), "\n") {
		return fmt.Sprintf("%q", s)
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return "<<EOT\n" + "        " + strings.Join(lines, "\n        ") + "\n        EOT"
}
