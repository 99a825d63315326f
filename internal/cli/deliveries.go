package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookline/hookline/server"
)

// subcommand is one of a command group's subcommands, for its help.
type subcommand struct{ name, summary string }

// subcommands lists each command group's subcommands, in the order their
// help shows them.
var subcommands = map[string][]subcommand{
	"deliveries": {
		{"list", "The run log of a running server: deliveries, newest first, with their status"},
		{"show", "One delivery: its rendered content (secrets as (sensitive)) and every attempt"},
		{"retry", "Schedule deliveries again now, by id or by filter, each for a fresh run of its retry policy"},
		{"cancel", "Cancel deliveries waiting for their due time (scheduled) or their next retry"},
	},
	"events": {
		{"show", "An event as received, and its deliveries"},
		{"purge", "Remove the events received before a time or age whose deliveries are all final, with their deliveries and attempts"},
	},
}

// groupHelp prints a command group's help: its subcommands.
func groupHelp(w io.Writer, group string) {
	subs := subcommands[group]
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	fmt.Fprintf(w, "Usage: hookline %s %s [OPTIONS]\n\n%s.\n\nSubcommands:\n", group, strings.Join(names, "|"), commands()[group].summary)
	for _, s := range subs {
		fmt.Fprintf(w, "  %-6s %s\n", s.name, s.summary)
	}
	fmt.Fprintf(w, "\nThey ask the server at --server URL, else $HOOKLINE_SERVER, else http://127.0.0.1:8080,\nwith $HOOKLINE_ADMIN_TOKEN. Run 'hookline %s SUBCOMMAND -h' for a subcommand's options.\n", group)
}

// runDeliveries is `hookline deliveries list|show|retry`.
func runDeliveries(e *env, args []string) int {
	if len(args) == 0 {
		groupHelp(e.stderr, "deliveries")
		return exitUsage
	}
	if isHelp(args[0]) {
		groupHelp(e.stdout, "deliveries")
		return exitOK
	}
	switch args[0] {
	case "list":
		return deliveriesList(e, args[1:])
	case "show":
		return deliveriesShow(e, args[1:])
	case "retry":
		return deliveriesRetry(e, args[1:])
	case "cancel":
		return deliveriesCancel(e, args[1:])
	}
	fmt.Fprintf(e.stderr, "hookline deliveries: unknown subcommand %q (use list, show, retry or cancel)\n", args[0])
	return exitUsage
}

func deliveriesList(e *env, args []string) int {
	fs := newFlags(e, "deliveries list", "")
	apiURL := serverFlag(fs)
	status := fs.String("status", "", "only deliveries in this status: pending, retrying, delivered, failed, scheduled, canceled (by an event, by hand, a reload or an erasure) or expired")
	trigger := fs.String("trigger", "", "only this trigger's deliveries")
	event := fs.String("event", "", "only this event's deliveries (its Hookline id)")
	limit := fs.Int("limit", 50, "at most this many (1-500)")
	format := fs.String("format", "table", "output format: table or json")
	if pos, code := parseFlags(fs, args); code >= 0 || len(pos) > 0 {
		return usageOr(e, code, "hookline deliveries list takes no arguments")
	}
	q := url.Values{}
	for k, v := range map[string]string{"status": *status, "trigger": *trigger, "event_id": *event} {
		if v != "" {
			q.Set(k, v)
		}
	}
	q.Set("limit", fmt.Sprint(*limit))
	var raw json.RawMessage
	if err := newAPIClient(*apiURL).do("GET", "/v1/deliveries", q, nil, &raw); err != nil {
		return clientError(e, err)
	}
	if *format == "json" {
		return printRaw(e, raw)
	}
	var page server.DeliveryPage
	if err := json.Unmarshal(raw, &page); err != nil {
		return clientError(e, err)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tATTEMPTS\tADDRESS\tUPDATED\tLAST ERROR")
	for _, d := range page.Deliveries {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", d.ID, d.Status, d.Attempts, d.Address, d.UpdatedAt.Local().Format(time.DateTime), oneLine(d.LastError, 60))
	}
	tw.Flush()
	if page.NextCursor != "" {
		fmt.Fprintf(e.stdout, "(more: use --format json and the API's cursor=%s)\n", page.NextCursor)
	}
	return exitOK
}

func deliveriesShow(e *env, args []string) int {
	fs := newFlags(e, "deliveries show", "ID")
	apiURL := serverFlag(fs)
	format := fs.String("format", "text", "output format: text or json")
	pos, code := parseFlags(fs, args)
	if code >= 0 || len(pos) != 1 || pos[0] == "" {
		return usageOr(e, code, "hookline deliveries show takes one delivery id")
	}
	var raw json.RawMessage
	if err := newAPIClient(*apiURL).do("GET", "/v1/deliveries/"+url.PathEscape(pos[0]), nil, nil, &raw); err != nil {
		return clientError(e, err)
	}
	if *format == "json" {
		return printRaw(e, raw)
	}
	var d server.DeliveryDetail
	if err := json.Unmarshal(raw, &d); err != nil {
		return clientError(e, err)
	}
	fmt.Fprintf(e.stdout, "%s  %s  %s\n", d.ID, d.Address, strings.ToUpper(d.Status))
	fmt.Fprintf(e.stdout, "event %s, %d attempt(s)", d.EventID, d.Attempts)
	if d.NextAttemptAt != nil {
		fmt.Fprintf(e.stdout, ", next at %s", d.NextAttemptAt.Local().Format(time.DateTime))
	}
	fmt.Fprintln(e.stdout)
	if d.DueAt != nil {
		fmt.Fprintf(e.stdout, "due %s: %s\n", d.DueAt.Local().Format(time.DateTime), d.ScheduleNote)
	}
	if d.CanceledBy != "" {
		fmt.Fprintf(e.stdout, "canceled: %s\n", canceledBy(d.CanceledBy))
	}
	fmt.Fprintln(e.stdout, "\nRendered:")
	writeAnyFields(e.stdout, d.Rendered, fieldOrder(e.types.Lookup(d.Type)))
	if len(d.AttemptLog) > 0 {
		fmt.Fprintln(e.stdout, "\nAttempts:")
	}
	for _, a := range d.AttemptLog {
		code := ""
		if a.StatusCode != 0 {
			code = fmt.Sprintf(" %d", a.StatusCode)
		}
		fmt.Fprintf(e.stdout, "  #%d %s %s%s in %.1f ms", a.Number, a.StartedAt.Local().Format(time.DateTime), a.Outcome, code, a.DurationMS)
		if a.ProviderID != "" {
			fmt.Fprintf(e.stdout, " (%s)", a.ProviderID)
		}
		fmt.Fprintln(e.stdout)
		if a.Error != "" {
			fmt.Fprintf(e.stdout, "     error: %s\n", a.Error)
		}
		if a.Response != "" {
			fmt.Fprintf(e.stdout, "     response: %s\n", oneLine(a.Response, 200))
		}
	}
	return exitOK
}

// writeAnyFields prints rendered fields decoded from JSON.
func writeAnyFields(w io.Writer, fields map[string]any, order []string) {
	conv := map[string]any{}
	for k, v := range fields {
		switch x := v.(type) {
		case string:
			conv[k] = x
		case []any:
			s := make([]string, len(x))
			for i, e := range x {
				s[i] = fmt.Sprint(e)
			}
			conv[k] = s
		case map[string]any:
			m := map[string]string{}
			for hk, hv := range x {
				m[hk] = fmt.Sprint(hv)
			}
			conv[k] = m
		}
	}
	if order == nil {
		order = make([]string, 0, len(conv))
		for k := range conv {
			order = append(order, k)
		}
		sort.Strings(order)
	}
	writeFields(w, conv, order)
}

func deliveriesRetry(e *env, args []string) int {
	fs := newFlags(e, "deliveries retry", "ID... | --status STATUS [--trigger T] [--since TIME] [--until TIME]")
	apiURL := serverFlag(fs)
	status := fs.String("status", "", "retry every delivery in this status, e.g. failed")
	trigger := fs.String("trigger", "", "retry this trigger's deliveries")
	since := fs.String("since", "", "created at or after this RFC 3339 time")
	until := fs.String("until", "", "created before this RFC 3339 time")
	ids, code := parseFlags(fs, args)
	if code >= 0 {
		return code
	}
	c := newAPIClient(*apiURL)
	filter := map[string]string{}
	for k, v := range map[string]string{"status": *status, "trigger": *trigger, "since": *since, "until": *until} {
		if v != "" {
			filter[k] = v
		}
	}
	if (len(ids) == 0) == (len(filter) == 0) {
		fmt.Fprintln(e.stderr, "hookline deliveries retry: give delivery ids, or a filter such as --status failed, not both")
		return exitUsage
	}
	if len(filter) > 0 {
		var out struct {
			Retried int `json:"retried"`
		}
		if err := c.do("POST", "/v1/deliveries/retry", nil, filter, &out); err != nil {
			return clientError(e, err)
		}
		fmt.Fprintf(e.stdout, "%d deliveries scheduled again.\n", out.Retried)
		return exitOK
	}
	for _, id := range ids {
		if err := c.do("POST", "/v1/deliveries/"+url.PathEscape(id)+"/retry", nil, nil, nil); err != nil {
			return clientError(e, err)
		}
		fmt.Fprintf(e.stdout, "%s scheduled again.\n", id)
	}
	return exitOK
}

// canceledBy reads the store's canceled_by: an event id or a sentence.
func canceledBy(v string) string {
	if strings.HasPrefix(v, "evt_") {
		return "by event " + v + " (hookline events show " + v + ")"
	}
	return v
}

func deliveriesCancel(e *env, args []string) int {
	fs := newFlags(e, "deliveries cancel", "ID...")
	apiURL := serverFlag(fs)
	ids, code := parseFlags(fs, args)
	if code >= 0 || len(ids) == 0 {
		return usageOr(e, code, "hookline deliveries cancel takes one or more delivery ids")
	}
	c := newAPIClient(*apiURL)
	for _, id := range ids {
		if err := c.do("POST", "/v1/deliveries/"+url.PathEscape(id)+"/cancel", nil, nil, nil); err != nil {
			return clientError(e, err)
		}
		fmt.Fprintf(e.stdout, "%s canceled.\n", id)
	}
	return exitOK
}

func printRaw(e *env, raw json.RawMessage) int {
	e.stdout.Write(raw)
	if len(raw) > 0 && raw[len(raw)-1] != '\n' {
		fmt.Fprintln(e.stdout)
	}
	return exitOK
}

func clientError(e *env, err error) int {
	fmt.Fprintf(e.stderr, "hookline: %v\n", err)
	return exitFailure
}

// usageOr returns code when flag parsing already decided, else reports a
// usage error.
func usageOr(e *env, code int, msg string) int {
	if code >= 0 {
		return code
	}
	fmt.Fprintln(e.stderr, msg)
	return exitUsage
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len([]rune(s)) > n {
		return string([]rune(s)[:n-1]) + "…"
	}
	return s
}
