package console

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hookline/hookline/engine"
)

// Bounds on the examples offered: a rules directory is the operator's,
// but a checkout may hold far more than rules.
const (
	maxExamples     = 200
	maxExampleBytes = 256 << 10
	maxWalk         = 5000
)

type tryData struct {
	Now      time.Time
	Event    string
	Examples []string
	Example  string
	Error    string
	Result   *tryResult
}

type tryResult struct {
	Type, ID, Source string
	Fired            []firedView
	NotFired         []engine.NotFired
	Cancels          []engine.Cancel
}

type firedView struct {
	Address, Type string
	Due           *time.Time
	DueReason     string
	Fields        []fieldView
}

// examples lists the JSON files of the rules directory: the events its
// tests and `hookline eval` use.
func (c *Console) examples() []string {
	if c.cfg.Examples == nil {
		return nil
	}
	var out []string
	seen := 0
	errStop := errors.New("stop")
	fs.WalkDir(c.cfg.Examples, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if seen++; seen > maxWalk || len(out) >= maxExamples {
			return errStop
		}
		if d.IsDir() {
			if p != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules") {
				return fs.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, ".json") && d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func (c *Console) tryPage(w http.ResponseWriter, r *http.Request, s *session) {
	d := tryData{Now: c.cfg.Now(), Examples: c.examples(), Example: r.URL.Query().Get("example")}
	if d.Example != "" {
		if !slices.Contains(d.Examples, d.Example) {
			d.Error = "There is no example " + d.Example + " in the rules directory."
		} else if b, err := readExample(c.cfg.Examples, d.Example); err != nil {
			d.Error = err.Error()
		} else {
			d.Event = string(b)
		}
	}
	c.render(w, r, s, http.StatusOK, "try", "Try an event", "try", d)
}

func readExample(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(path.Clean(name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxExampleBytes+1))
	if err == nil && len(b) > maxExampleBytes {
		err = errors.New(name + " is too large to show here")
	}
	return b, err
}

// try runs the pasted event through the live rules as `hookline eval`
// does: nothing is stored and nothing is sent.
func (c *Console) try(w http.ResponseWriter, r *http.Request, s *session) {
	d := tryData{Now: c.cfg.Now(), Examples: c.examples(), Event: r.PostFormValue("event")}
	status := http.StatusOK
	live := c.cfg.Live()
	if strings.TrimSpace(d.Event) == "" {
		d.Error, status = "Paste a CloudEvent, or pick an example.", http.StatusBadRequest
	} else if int64(len(d.Event)) > c.cfg.MaxEventBytes {
		d.Error, status = "The event is larger than the server accepts.", http.StatusRequestEntityTooLarge
	} else if ev, err := c.cfg.Engine.Decode(live.Set().Schema, []byte(d.Event)); err != nil {
		d.Error, status = "The server would refuse this event: "+err.Error(), http.StatusUnprocessableEntity
	} else {
		res := c.cfg.Engine.Match(r.Context(), live, ev, engine.MatchOptions{Explain: true, Now: d.Now})
		tr := &tryResult{Type: ev.Type, ID: ev.ID, Source: ev.Source, NotFired: res.NotFired(), Cancels: res.Cancels}
		for _, f := range res.Fired {
			fv := firedView{Address: f.Delivery.Address, Type: f.Delivery.Type, Fields: fieldViews(f.Delivery.Fields)}
			if f.Timing != nil {
				due := f.Timing.Due.In(f.Timing.Zone)
				fv.Due, fv.DueReason = &due, f.Timing.Reason
			}
			tr.Fired = append(tr.Fired, fv)
		}
		d.Result = tr
	}
	c.render(w, r, s, status, "try", "Try an event", "try", d)
}
