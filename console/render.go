package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookline/hookline/delivery"
)

// page is what the layout needs around every page's own data.
type page struct {
	Title   string
	Nav     string // the section the page belongs to
	CSRF    string
	Logout  bool // a session a user can end: only with an admin token
	Flash   string
	Data    any
	Version string
}

// render answers with a whole page or, for ?part=NAME, the fragment of it
// that live refresh replaces.
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *session, status int, name, title, nav string, data any) {
	p := page{Title: title, Nav: nav, Data: data, Version: c.version, Flash: flashText(r.URL.Query())}
	if s != nil {
		p.CSRF, p.Logout = s.csrf, c.sessions.admin != nil
	}
	tmpl := "layout"
	if part := r.URL.Query().Get("part"); part != "" && c.pages[name].Lookup("part-"+part) != nil {
		tmpl = "part-" + part
	}
	var buf bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&buf, tmpl, p); err != nil {
		c.cfg.Logger.Error("console: rendering a page failed", "page", name, "error", err)
		http.Error(w, "The page could not be rendered.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fail shows an error page with a sentence the user can act on.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	c.render(w, r, s, status, "error", http.StatusText(status), "", msg)
}

// flash redirects after a POST to a page that says what happened. The
// query names the outcome rather than holding the sentence, so that a
// link cannot make the console say what it never said.
func flash(w http.ResponseWriter, r *http.Request, to, done string, n int) {
	sep := "?"
	if strings.Contains(to, "?") {
		sep = "&"
	}
	http.Redirect(w, r, fmt.Sprintf("%s%sdone=%s&n=%d", to, sep, done, n), http.StatusSeeOther)
}

func flashText(q url.Values) string {
	n, _ := strconv.Atoi(q.Get("n"))
	switch q.Get("done") {
	case "retried":
		return "Queued to be sent again."
	case "canceled":
		return "Canceled: it will not be sent."
	case "bulk":
		return fmt.Sprintf("%d failed %s queued to be sent again.", n, plural(n, "delivery was", "deliveries were"))
	}
	return ""
}

var funcs = template.FuncMap{
	"when":     when,
	"ago":      ago,
	"statusOf": func(s delivery.Status) string { return string(s) },
	"ms":       func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) },
	"short":    func(s string) string { return s[:min(12, len(s))] },
	"plural":   plural,
	"rowsOf": func(now time.Time, rows []delivery.Summary) deliveriesData {
		return deliveriesData{Now: now, Rows: rows}
	},
	"clip": func(n int, s string) string {
		if len(s) <= n {
			return s
		}
		return strings.ToValidUTF8(s[:n], "") + "…"
	},
}

// when is a time as the console shows it: UTC, to the second, which is
// what logs and the API say too.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

// ago is a duration since t, in the largest unit that fits.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		s = fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh", int(d.Hours()))
	default:
		s = fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// prettyJSON indents a stored document for reading; text that is not JSON
// (an erasure marker) is shown as it is.
func prettyJSON(raw []byte) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}

// human is a duration as people write it: 5m rather than Go's 5m0s.
func human(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// plural picks the word for a count.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
