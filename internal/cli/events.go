package cli

import (
	"encoding/json"
	"fmt"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/hookline/hookline/server"
)

// runEvents is `hookline events show|purge`.
func runEvents(e *env, args []string) int {
	if len(args) == 0 {
		groupHelp(e.stderr, "events")
		return exitUsage
	}
	if isHelp(args[0]) {
		groupHelp(e.stdout, "events")
		return exitOK
	}
	switch args[0] {
	case "show":
		return eventsShow(e, args[1:])
	case "purge":
		return eventsPurge(e, args[1:])
	}
	fmt.Fprintf(e.stderr, "hookline events: unknown subcommand %q (use show or purge)\n", args[0])
	return exitUsage
}

func eventsShow(e *env, args []string) int {
	fs := newFlags(e, "events show", "ID")
	apiURL := serverFlag(fs)
	format := fs.String("format", "text", "output format: text or json")
	pos, code := parseFlags(fs, args)
	if code >= 0 || len(pos) != 1 || pos[0] == "" {
		return usageOr(e, code, "hookline events show takes one event id")
	}
	var raw json.RawMessage
	if err := newAPIClient(*apiURL).do("GET", "/v1/events/"+url.PathEscape(pos[0]), nil, nil, &raw); err != nil {
		return clientError(e, err)
	}
	if *format == "json" {
		return printRaw(e, raw)
	}
	var ev server.EventView
	if err := json.Unmarshal(raw, &ev); err != nil {
		return clientError(e, err)
	}
	fmt.Fprintf(e.stdout, "%s  %s  (CloudEvent %q from %s, received %s)\n", ev.ID, ev.Type, ev.CEID, ev.Source, ev.ReceivedAt.Local().Format(time.DateTime))
	if ev.ErasedAt != nil {
		fmt.Fprintf(e.stdout, "Its data was erased on %s: the event, rendered messages and attempt excerpts read (erased).\n", ev.ErasedAt.Local().Format(time.DateTime))
	}
	fmt.Fprintln(e.stdout)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DELIVERY\tSTATUS\tATTEMPTS\tADDRESS")
	for _, d := range ev.Deliveries {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", d.ID, d.Status, d.Attempts, d.Address)
	}
	tw.Flush()
	if len(ev.Deliveries) == 0 {
		fmt.Fprintln(e.stdout, "(no action fired)")
	}
	return exitOK
}

// eventsPurge asks the server to purge: the server's clock and its
// store's rules decide, so the cutoff is sent as written.
func eventsPurge(e *env, args []string) int {
	fs := newFlags(e, "events purge", "--before TIME|AGE")
	apiURL := serverFlag(fs)
	before := fs.String("before", "", "remove events received before this RFC 3339 time (2026-01-31T00:00:00Z) or longer ago than this age (720h, 30d), once every delivery of theirs is final and last changed before it; pending and retrying deliveries keep their event")
	format := fs.String("format", "text", "output format: text or json")
	pos, code := parseFlags(fs, args)
	if code >= 0 || len(pos) > 0 || *before == "" {
		return usageOr(e, code, "hookline events purge takes --before TIME or AGE, e.g. --before 30d, and no arguments")
	}
	var raw json.RawMessage
	// A large purge takes as long as it takes: no client timeout.
	if err := newAPIClient(*apiURL).withTimeout(0).do("POST", "/v1/events/purge", nil, map[string]string{"before": *before}, &raw); err != nil {
		return clientError(e, err)
	}
	if *format == "json" {
		return printRaw(e, raw)
	}
	var out server.PurgeAnswer
	if err := json.Unmarshal(raw, &out); err != nil {
		return clientError(e, err)
	}
	fmt.Fprintf(e.stdout, "Removed %s, %s and %s received before %s.\n",
		plural(out.Events, "event", "events"), plural(out.Deliveries, "delivery", "deliveries"),
		plural(out.Attempts, "attempt", "attempts"), out.Before.Format(time.RFC3339))
	return exitOK
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
