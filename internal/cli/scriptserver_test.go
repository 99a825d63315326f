package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hookline/hookline/server"
)

// startServer is the script command `startserver DIR`: a server on the
// rules in DIR (serving no triggers is allowed), in the sandbox, with its
// store in $WORK/data, run in the test process until the script ends.
// $HOOKLINE_SERVER points the CLI's API commands at it.
func startServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: startserver DIR")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Options{
		RulesDir: ts.MkAbs(args[0]), DataDir: ts.MkAbs("data"), Listener: ln,
		Sandbox: true, AllowEmpty: true, Watch: "off", ShutdownTimeout: 5 * time.Second,
	})
	if err != nil {
		cancel()
		ln.Close()
		ts.Fatalf("starting the server: %v", err)
	}
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() { done <- srv.Run(ctx, func(string) { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		ts.Fatalf("the server stopped: %v", err)
	}
	ts.Setenv("HOOKLINE_SERVER", "http://"+ln.Addr().String())
	ts.Defer(func() {
		cancel()
		if err := <-done; err != nil {
			ts.Logf("the server: %v", err)
		}
	})
}

// postEvent is the script command `postevent FILE VAR`: it posts the
// CloudEvent in FILE to $HOOKLINE_SERVER, requires it accepted, and sets
// $VAR to the id the server gave it and, when it fired something,
// $VAR_DELIVERY to its first delivery's.
func postEvent(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: postevent FILE VAR")
	}
	body, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	resp, err := http.Post(ts.Getenv("HOOKLINE_SERVER")+"/v1/events", "application/cloudevents+json", bytes.NewReader(body))
	ts.Check(err)
	defer resp.Body.Close()
	var ans struct {
		ID         string
		Deliveries []struct{ ID string }
	}
	ts.Check(json.NewDecoder(resp.Body).Decode(&ans))
	if resp.StatusCode != http.StatusAccepted || ans.ID == "" {
		ts.Fatalf("posting %s: HTTP %d", args[0], resp.StatusCode)
	}
	ts.Setenv(args[1], ans.ID)
	if len(ans.Deliveries) > 0 {
		ts.Setenv(args[1]+"_DELIVERY", ans.Deliveries[0].ID)
	}
}
