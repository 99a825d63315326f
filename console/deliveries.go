package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/delivery"
)

// pageSize is the deliveries page's length: enough to scan, small enough
// that a refresh every few seconds costs little.
const pageSize = 50

// bulkCountCap bounds the count a bulk retry's confirmation shows, so that
// asking never counts a whole table.
const bulkCountCap = 10000

// filterForm is the deliveries filter as the form holds it.
type filterForm struct {
	Status, Trigger, EventID, Address, Since, Until, Cursor string
}

func readFilterForm(q url.Values) filterForm {
	return filterForm{Status: q.Get("status"), Trigger: strings.TrimSpace(q.Get("trigger")), EventID: strings.TrimSpace(q.Get("event_id")),
		Address: strings.TrimSpace(q.Get("address")), Since: strings.TrimSpace(q.Get("since")), Until: strings.TrimSpace(q.Get("until")), Cursor: q.Get("cursor")}
}

// values is the form as a query, without empty fields or the cursor.
func (ff filterForm) values() url.Values {
	v := url.Values{}
	for _, kv := range [][2]string{{"status", ff.Status}, {"trigger", ff.Trigger}, {"event_id", ff.EventID},
		{"address", ff.Address}, {"since", ff.Since}, {"until", ff.Until}} {
		if kv[1] != "" {
			v.Set(kv[0], kv[1])
		}
	}
	return v
}

// filter is the store's filter for the form, or why it is not one.
func (ff filterForm) filter() (delivery.Filter, error) {
	f := delivery.Filter{Status: ff.Status, Trigger: ff.Trigger, EventID: ff.EventID, Address: ff.Address, Cursor: ff.Cursor, Limit: pageSize}
	if f.Status != "" && !slices.Contains(delivery.Statuses(), delivery.Status(f.Status)) {
		return f, fmt.Errorf("there is no status %q; choose one from the list", f.Status)
	}
	var err error
	if f.Since, err = parseWhen("From", ff.Since); err != nil {
		return f, err
	}
	if f.Until, err = parseWhen("To", ff.Until); err != nil {
		return f, err
	}
	return f, nil
}

// parseWhen reads a time from the form: what a datetime-local input sends
// (taken as UTC, which the form says), or RFC 3339.
func parseWhen(label, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%s %q is not a time; write it as 2026-12-02T09:30 (UTC) or in RFC 3339", label, s)
}

type deliveriesData struct {
	Now      time.Time
	Form     filterForm
	Statuses []delivery.Status
	Triggers []string
	Rows     []delivery.Summary
	Query    string // the filter as a query string, for links
	Next     string // the next (older) page
	Paged    bool   // not the first page
	Error    string
	Failed   bool // failed deliveries may match: offer a bulk retry
}

func (c *Console) deliveries(w http.ResponseWriter, r *http.Request, s *session) {
	ff := readFilterForm(r.URL.Query())
	d := deliveriesData{Now: c.cfg.Now(), Form: ff, Statuses: delivery.Statuses(), Query: ff.values().Encode(), Paged: ff.Cursor != ""}
	for _, t := range c.cfg.Live().Set().Triggers {
		d.Triggers = append(d.Triggers, t.Name)
	}
	d.Failed = ff.Status == "" || ff.Status == "failed"
	status := http.StatusOK
	f, err := ff.filter()
	if err == nil {
		var next string
		d.Rows, next, err = c.cfg.Store.Deliveries(r.Context(), f)
		if next != "" {
			v := ff.values()
			v.Set("cursor", next)
			d.Next = "/deliveries?" + v.Encode()
		}
		if err != nil && !errors.Is(err, delivery.ErrInvalidFilter) {
			c.storeFailed(w, r, s, "", err)
			return
		}
	}
	if err != nil {
		d.Error, d.Failed, status = err.Error(), false, http.StatusBadRequest
	}
	c.render(w, r, s, status, "deliveries", "Deliveries", "deliveries", d)
}

type retryData struct {
	Form  filterForm
	Query string // the list to go back to
	Count int
	More  bool
	Error string
}

// retryConfirm counts the failed deliveries a bulk retry would send again
// and asks. The count covers deliveries created until now, and so does the
// retry the form posts, so that it retries what was counted.
func (c *Console) retryConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	ff := readFilterForm(r.URL.Query())
	d := retryData{Query: ff.values().Encode()}
	ff.Status, ff.Cursor = "failed", ""
	if ff.Until == "" {
		ff.Until = c.cfg.Now().UTC().Format(time.RFC3339Nano)
	}
	d.Form = ff
	f, err := ff.filter()
	if err == nil {
		d.Count, d.More, err = c.cfg.Store.CountMatching(r.Context(), f, bulkCountCap)
		if err != nil && !errors.Is(err, delivery.ErrInvalidFilter) {
			c.storeFailed(w, r, s, "", err)
			return
		}
	}
	status := http.StatusOK
	if err != nil {
		d.Error, status = err.Error(), http.StatusBadRequest
	}
	c.render(w, r, s, status, "retry", "Retry failed deliveries", "deliveries", d)
}

func (c *Console) retryMatching(w http.ResponseWriter, r *http.Request, s *session) {
	ff := readFilterForm(r.PostForm)
	ff.Cursor = ""
	f, err := ff.filter()
	if err == nil && ff.Status != "failed" {
		err = errors.New("a bulk retry sends failed deliveries only")
	}
	if err != nil {
		c.fail(w, r, s, http.StatusBadRequest, "This retry cannot run: "+err.Error()+".")
		return
	}
	n, err := c.cfg.Store.RetryMatching(r.Context(), f)
	if err != nil {
		c.storeFailed(w, r, s, "", err)
		return
	}
	c.cfg.Logger.Info("console: deliveries retried by hand", "count", n, "trigger", f.Trigger)
	back, _ := url.ParseQuery(r.PostFormValue("back"))
	flash(w, r, "/deliveries?"+readFilterForm(back).values().Encode(), "bulk", n)
}

type deliveryData struct {
	Now     time.Time
	D       *delivery.Detail
	Fields  []fieldView
	Retry   string
	Waiting bool // scheduled or retrying: it can be canceled
	Final   bool
	Erased  bool
}

// fieldView is one rendered attribute, secrets shown as (sensitive).
type fieldView struct {
	Name string
	Text *string
	List []string
	Map  []attrView
}

func fieldViews(fs actions.Fields) []fieldView {
	out := make([]fieldView, 0, len(fs))
	for _, f := range fs {
		fv := fieldView{Name: f.Name}
		switch {
		case f.Map != nil:
			for _, h := range f.Map {
				fv.Map = append(fv.Map, attrView{h.Name, h.Value.Redacted()})
			}
		case f.List != nil:
			for _, t := range f.List {
				fv.List = append(fv.List, t.Redacted())
			}
		default:
			t := f.Text.Redacted()
			fv.Text = &t
		}
		out = append(out, fv)
	}
	return out
}

func (c *Console) delivery(w http.ResponseWriter, r *http.Request, s *session) {
	det, err := c.cfg.Store.Delivery(r.Context(), r.PathValue("id"))
	if err != nil {
		c.storeFailed(w, r, s, "delivery", err)
		return
	}
	d := deliveryData{Now: c.cfg.Now(), D: det, Fields: fieldViews(det.Content.Fields), Erased: det.ErasedAt != nil,
		Waiting: det.Status == delivery.StatusScheduled || det.Status == delivery.StatusRetrying,
		Final:   det.Status.Final(), Retry: policyText(det.Retry.Schedule, det.Retry.MaxAttempts)}
	c.render(w, r, s, http.StatusOK, "delivery", "Delivery "+det.ID, "deliveries", d)
}

func (c *Console) retryOne(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	err := c.cfg.Store.Retry(r.Context(), id)
	if errors.Is(err, delivery.ErrErased) {
		c.fail(w, r, s, http.StatusConflict, "This delivery's content was erased, so there is nothing to send again.")
		return
	}
	if err != nil {
		c.storeFailed(w, r, s, "delivery", err)
		return
	}
	c.cfg.Logger.Info("console: delivery retried by hand", "delivery_id", id)
	flash(w, r, "/deliveries/"+url.PathEscape(id), "retried", 0)
}

func (c *Console) cancelOne(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	err := c.cfg.Store.Cancel(r.Context(), id)
	if nw := (*delivery.NotWaitingError)(nil); errors.As(err, &nw) {
		c.fail(w, r, s, http.StatusConflict, fmt.Sprintf("This delivery is %s, not waiting: only scheduled and retrying deliveries can be canceled.", nw.Status))
		return
	}
	if err != nil {
		c.storeFailed(w, r, s, "delivery", err)
		return
	}
	c.cfg.Logger.Info("console: delivery canceled by hand", "delivery_id", id)
	flash(w, r, "/deliveries/"+url.PathEscape(id), "canceled", 0)
}
