package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// waitFinal is the script command `waitfinal EVENT_ID`: it waits until
// every delivery of the event on $HOOKLINE_SERVER (startserver) is final,
// as a purge needs them to be.
func waitFinal(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfinal EVENT_ID")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(ts.Getenv("HOOKLINE_SERVER") + "/v1/events/" + args[0])
		ts.Check(err)
		var ev struct{ Deliveries []struct{ Status string } }
		err = json.NewDecoder(resp.Body).Decode(&ev)
		resp.Body.Close()
		ts.Check(err)
		final := true
		for _, d := range ev.Deliveries {
			final = final && (d.Status == "delivered" || d.Status == "failed" || d.Status == "canceled" || d.Status == "expired")
		}
		if final {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("event %s: deliveries not final after 30s: %s", args[0], fmt.Sprint(ev.Deliveries))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
