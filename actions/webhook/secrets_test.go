package webhook

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/hookline/hookline/actions"
)

// TestSecretsNeverLeak sends secrets in the URL, a header, the body and the
// signing secret to a receiver that echoes them all back, and to failures
// whose error text would include them, and checks that no Outcome field and
// no log line carries any of them.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"TOKEN":   "tok-5ecret-value",
		"API_KEY": `p@ss<w&rd>"q`, // escapes differently in JSON and URLs
		"PAYLOAD": "body-5ecret",
		"WH":      testSecret,
		"PORT":    "80z-5ecret-port",
	}
	secrets := []string{env["TOKEN"], env["API_KEY"], env["PAYLOAD"], env["WH"],
		strings.TrimPrefix(env["WH"], "whsec_"), env["PORT"], "5ecret"}

	e := newExecutor(t, Config{Env: envMap(env)})
	echo, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, r.Header.Get("X-Api-Key")+" "+r.URL.RawQuery+"\n")
		json.NewEncoder(w).Encode(map[string]any{"headers": r.Header, "body": string(body)})
	})
	redirect, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/moved?"+r.URL.RawQuery, http.StatusFound)
	})
	straddle, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, strings.Repeat("x", actions.ResponseLimit-4)+env["TOKEN"]+" and more")
	})

	withSecrets := func(base string) *actions.Delivery {
		d := delivery(actions.Text{{Lit: base + "/hook?token="}, {Env: "TOKEN"}})
		edit(d, func(h *httpAction) {
			h.headers = []actions.Header{{Name: "X-Api-Key", Value: actions.Text{{Env: "API_KEY"}}}}
		})
		edit(d, func(h *httpAction) { h.body = actions.Text{{Lit: `{"s":"`}, {Env: "PAYLOAD"}, {Lit: `"}`}} })
		edit(d, func(h *httpAction) { h.signingSecret = actions.Text{{Env: "WH"}} })
		return d
	}
	badPort := withSecrets("")
	edit(badPort, func(h *httpAction) {
		h.url = actions.Text{{Lit: "http://127.0.0.1:"}, {Env: "PORT"}, {Lit: "/"}}
	})
	cases := []struct {
		name string
		d    *actions.Delivery
		want actions.Status
	}{
		{"echoing receiver", withSecrets(echo.URL), actions.Retry},
		{"redirect to a URL with the token", withSecrets(redirect.URL), actions.Permanent},
		{"secret across the 4 KiB cut", withSecrets(straddle.URL), actions.Permanent},
		{"url error naming the secret", badPort, actions.Permanent},
	}
	for _, c := range cases {
		out := execute(t, e, c.d)
		if out.Status != c.want {
			t.Errorf("%s: status %v, want %v (%q)", c.name, out.Status, c.want, out.Error)
		}
		// At the 4 KiB cut the marker itself is cut short.
		if !strings.Contains(out.Error+out.Response, actions.Redaction[:4]) {
			t.Errorf("%s: nothing was redacted, so the test proves nothing:\nError: %s", c.name, out.Error)
		}
		for _, field := range []string{out.Error, out.Response} {
			if s := leaked(field, secrets); s != "" {
				t.Errorf("%s: outcome contains secret %q:\n%s", c.name, s, field)
			}
		}
		if len(out.Response) > actions.ResponseLimit {
			t.Errorf("%s: Response is %d bytes", c.name, len(out.Response))
		}
	}
}

// leaked returns the first secret found in text in any of the encodings an
// echo, a URL or a log line would give it, or "".
func leaked(text string, secrets []string) string {
	for _, s := range secrets {
		j, _ := json.Marshal(s)
		q := strconv.Quote(s)
		for _, form := range []string{s, string(j[1 : len(j)-1]), q[1 : len(q)-1], url.QueryEscape(s)} {
			if strings.Contains(text, form) {
				return s
			}
		}
	}
	return ""
}

// encodings are the forms, besides textual escapes, in which a peer may
// echo a value it was sent.
func encodings(v string) [][2]string {
	b := []byte(v)
	var dec, hexRefs strings.Builder
	for _, c := range v {
		fmt.Fprintf(&dec, "&#%d;", c)
		fmt.Fprintf(&hexRefs, "&#x%X;", c)
	}
	return [][2]string{
		{"base64", base64.StdEncoding.EncodeToString(b)},
		{"base64 unpadded", base64.RawStdEncoding.EncodeToString(b)},
		{"base64url", base64.URLEncoding.EncodeToString(b)},
		{"base64url unpadded", base64.RawURLEncoding.EncodeToString(b)},
		{"hex", hex.EncodeToString(b)},
		{"HEX", strings.ToUpper(hex.EncodeToString(b))},
		{"HTML escaped", html.EscapeString(v)},
		{"HTML decimal references", dec.String()},
		{"HTML hex references", hexRefs.String()},
	}
}

// TestEncodedSecretsNeverLeak has a receiver echo every secret it got, and
// the Basic credential of the URL, in each encoding: the stored Response
// must hide them all.
func TestEncodedSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"API_KEY": `p@ss<w&rd>"q-77`,
		"PAYLOAD": "body-5ecret-value",
		"PASS":    "basic-pa55-word",
	}
	echo, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		var body struct{ S string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		user, pass, _ := r.BasicAuth()
		w.WriteHeader(http.StatusBadRequest)
		for _, v := range [][2]string{{"key", r.Header.Get("X-Api-Key")}, {"body", body.S}, {"pass", pass}, {"basic", user + ":" + pass}} {
			for _, e := range encodings(v[1]) {
				fmt.Fprintf(w, "%s as %s: %s\n", v[0], e[0], e[1])
			}
		}
	})
	e := newExecutor(t, Config{Env: envMap(env)})
	d := delivery(actions.Text{{Lit: "http://hook:"}, {Env: "PASS"}, {Lit: "@" + strings.TrimPrefix(echo.URL, "http://") + "/"}})
	edit(d, func(h *httpAction) {
		h.headers = []actions.Header{{Name: "X-Api-Key", Value: actions.Text{{Env: "API_KEY"}}}}
		h.body = actions.Text{{Lit: `{"s":"`}, {Env: "PAYLOAD"}, {Lit: `"}`}}
	})
	out := execute(t, e, d)
	if out.Status != actions.Permanent || out.StatusCode != http.StatusBadRequest {
		t.Fatalf("outcome %+v, want the receiver's 400", out)
	}
	lines := strings.Split(strings.TrimSuffix(out.Response, "\n"), "\n")
	if len(lines) != 4*len(encodings("")) {
		t.Fatalf("Response has %d lines:\n%s", len(lines), out.Response)
	}
	for _, l := range lines {
		if _, shown, _ := strings.Cut(l, ": "); shown != actions.Redaction {
			t.Errorf("not hidden: %s", l)
		}
	}
	for _, v := range []string{env["API_KEY"], env["PAYLOAD"], env["PASS"], "hook:" + env["PASS"]} {
		for _, enc := range encodings(v) {
			if strings.Contains(out.Response+out.Error, enc[1]) {
				t.Errorf("%s of %q is in the outcome", enc[0], v)
			}
		}
	}
}
