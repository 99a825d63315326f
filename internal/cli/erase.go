package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hookline/hookline/server"
)

// runErase is `hookline erase --email A | --phone N | --event ID`: it asks
// the running server to erase one person's data (POST /v1/erasures) and
// prints what was touched. The identifier goes to the server, which
// normalises it as intake did (--default-country-code is the server's);
// it is never printed back.
func runErase(e *env, args []string) int {
	fs := newFlags(e, "erase", "--email ADDRESS | --phone NUMBER | --event ID")
	apiURL := serverFlag(fs)
	email := fs.String("email", "", "erase every event whose participant or message has this e-mail address (any case)")
	phone := fs.String("phone", "", "erase every event with this phone number, written any way that gives the same E.164 number (+1 555 010 0123)")
	event := fs.String("event", "", "erase this event (its Hookline id, evt_...)")
	format := fs.String("format", "text", "output format: text or json")
	pos, code := parseFlags(fs, args)
	if code >= 0 || len(pos) > 0 {
		return usageOr(e, code, "hookline erase takes no arguments: give --email, --phone or --event")
	}
	var req server.ErasureRequest
	given := 0
	for _, f := range []struct {
		v   string
		dst *string
	}{{*email, &req.Email}, {*phone, &req.Phone}, {*event, &req.EventID}} {
		if strings.TrimSpace(f.v) != "" {
			*f.dst = f.v
			given++
		}
	}
	if given != 1 {
		fmt.Fprintln(e.stderr, "hookline erase: give exactly one of --email, --phone or --event")
		return exitUsage
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(e.stderr, "hookline erase: unknown format %q (use text or json)\n", *format)
		return exitUsage
	}
	var raw json.RawMessage
	if err := newAPIClient(*apiURL).do("POST", "/v1/erasures", nil, req, &raw); err != nil {
		return clientError(e, err)
	}
	if *format == "json" {
		return printRaw(e, raw)
	}
	var v server.ErasureView
	if err := json.Unmarshal(raw, &v); err != nil {
		return clientError(e, err)
	}
	fmt.Fprintf(e.stdout, "Erased %s, %s (%d canceled before they ran) and %s.\n",
		pluralize(v.Events, "event"), deliveries(v.Deliveries), v.Canceled, pluralize(v.Attempts, "attempt"))
	fmt.Fprintf(e.stdout, "Audit: erasure %s (GET /v1/erasures/%s lists the events).\n", v.ID, v.ID)
	if v.FinishedAt == nil {
		fmt.Fprintln(e.stdout, "It was interrupted: run it again to erase the rest.")
		return exitFailure
	}
	return exitOK
}

func deliveries(n int) string {
	if n == 1 {
		return "1 delivery"
	}
	return fmt.Sprintf("%d deliveries", n)
}
