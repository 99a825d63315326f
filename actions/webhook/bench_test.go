package webhook

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hookline/hookline/actions"
)

// benchBody is a typical CloudEvent delivery.
const benchBody = `{"specversion":"1.0","id":"evt-0001","source":"/shop/orders","type":"order.created",` +
	`"time":"2026-03-01T12:00:00Z","datacontenttype":"application/json","data":{"order":"A-1001","total":42.5,"currency":"EUR"}}`

func benchReceiver(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true}`))
	}))
	b.Cleanup(srv.Close)
	return srv
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkRawNetHTTP is the baseline: the same POST with a bare keep-alive
// net/http client and no classification, signing or guard.
func BenchmarkRawNetHTTP(b *testing.B) {
	srv := benchReceiver(b)
	tr := &http.Transport{MaxIdleConnsPerHost: 128}
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 15 * time.Second}
	body := []byte(benchBody)
	b.ReportAllocs()
	for b.Loop() {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL+"/hook", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, actions.ResponseLimit))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	reportRate(b)
}

func BenchmarkExecute(b *testing.B) {
	benchExecute(b, nil)
}

// BenchmarkExecuteSigned adds the Standard Webhooks signature and a secret
// header, so redaction runs too.
func BenchmarkExecuteSigned(b *testing.B) {
	benchExecute(b, func(h *httpAction) {
		h.signingSecret = actions.Text{{Env: "WH"}}
		h.headers = []actions.Header{{Name: "Authorization", Value: actions.Text{{Lit: "Bearer "}, {Env: "TOKEN"}}}}
	})
}

func benchExecute(b *testing.B, change func(*httpAction)) {
	srv := benchReceiver(b)
	e := newExecutor(b, Config{Env: envMap(map[string]string{"WH": testSecret, "TOKEN": "t0ken-value"})})
	d := delivery(actions.Literal(srv.URL + "/hook"))
	edit(d, func(h *httpAction) { h.body = actions.Literal(benchBody) })
	if change != nil {
		edit(d, change)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if out := e.Execute(ctx, d); out.Status != actions.Delivered {
			b.Fatalf("%+v", out)
		}
	}
	reportRate(b)
}
