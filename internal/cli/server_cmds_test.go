package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// Script commands for talking to a running server. A script starts one
// with `serve-bg ARGS...` (hookline serve ARGS..., in the background, in
// $WORK, stopped with SIGINT when the script ends), which sets
// $HOOKLINE_SERVER to its URL once it is ready, so that the CLI's client
// commands find it; `send-event FILE` posts a CloudEvent to it and waits
// until every delivery the event fired is final, setting $EVENT_ID.

// serveBG is the script command serve-bg.
func serveBG(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! serve-bg")
	}
	bin, err := exec.LookPath("hookline")
	ts.Check(err)
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.Dir = ts.Getenv("WORK")
	// The script's environment, not the test process's (which may name
	// a database).
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "HOOKLINE_ADMIN_TOKEN", "HOOKLINE_INGEST_TOKENS"} {
		cmd.Env = append(cmd.Env, k+"="+ts.Getenv(k))
	}
	stderr, err := cmd.StderrPipe()
	ts.Check(err)
	ts.Check(cmd.Start())
	ts.Defer(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		// Read to the end: a server whose stderr fills up stops.
		re := regexp.MustCompile(`on http://(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case a := <-addr:
		ts.Setenv("HOOKLINE_SERVER", "http://"+a)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		ts.Fatalf("the server did not start")
	}
}

// sendEvent is the script command send-event.
func sendEvent(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: send-event FILE")
	}
	base := ts.Getenv("HOOKLINE_SERVER")
	resp, err := http.Post(base+"/v1/events", "application/cloudevents+json", bytes.NewReader([]byte(ts.ReadFile(args[0]))))
	ts.Check(err)
	var rc struct {
		ID string `json:"id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&rc)
	resp.Body.Close()
	ts.Check(err)
	if resp.StatusCode != http.StatusAccepted {
		ts.Fatalf("POST /v1/events: HTTP %d", resp.StatusCode)
	}
	ts.Setenv("EVENT_ID", rc.ID)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ev struct {
			Deliveries []struct{ Status string }
		}
		resp, err := http.Get(base + "/v1/events/" + rc.ID)
		ts.Check(err)
		err = json.NewDecoder(resp.Body).Decode(&ev)
		resp.Body.Close()
		ts.Check(err)
		final := true
		for _, d := range ev.Deliveries {
			final = final && (d.Status == "delivered" || d.Status == "failed")
		}
		if final {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("event %s: deliveries not final after 30s: %s", rc.ID, fmt.Sprint(ev.Deliveries))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
