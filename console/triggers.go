package console

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/rules"
)

type triggerView struct {
	Name, Description, When string
	On                      []string
	Enabled                 bool
	Actions                 []actionView
}

type actionView struct {
	Address, Type, Name string
	Enabled             bool
	Retry               string
	Schedule            []attrView
	Delivered, Failed   int
}

type attrView struct{ Name, Value string }

func (c *Console) triggers(w http.ResponseWriter, r *http.Request, s *session) {
	set := c.cfg.Live().Set()
	now := c.cfg.Now()
	counts, err := c.actionCounts.get(r.Context(), now, func(ctx context.Context) (map[string]map[delivery.Status]int, error) {
		return c.cfg.Store.ActionCounts(ctx, now.Add(-24*time.Hour))
	})
	if err != nil {
		c.storeFailed(w, r, s, "", err)
		return
	}
	out := make([]triggerView, 0, len(set.Triggers))
	for _, t := range set.Triggers {
		tv := triggerView{Name: t.Name, Description: t.Description, When: t.When, On: t.On, Enabled: t.Enabled}
		for _, a := range t.Actions {
			av := actionView{Address: a.Address, Type: a.Type, Name: a.Name, Enabled: a.Enabled, Retry: retryText(a.Retry),
				Delivered: counts[a.Address][delivery.StatusDelivered], Failed: counts[a.Address][delivery.StatusFailed]}
			sched := set.ScheduleAttrs(a)
			for name, v := range sched {
				av.Schedule = append(av.Schedule, attrView{strings.TrimPrefix(name, "schedule."), v})
			}
			sort.Slice(av.Schedule, func(i, j int) bool { return av.Schedule[i].Name < av.Schedule[j].Name })
			tv.Actions = append(tv.Actions, av)
		}
		out = append(out, tv)
	}
	c.render(w, r, s, http.StatusOK, "triggers", "Triggers", "triggers", out)
}

// retryText is an action's retry policy as a sentence, the server's
// default when the rules set none.
func retryText(rt *rules.Retry) string {
	if rt == nil {
		return "default: " + policyText(delivery.DefaultSchedule, 0)
	}
	sched := rt.Schedule
	if sched == nil {
		sched = delivery.DefaultSchedule
	}
	return policyText(sched, rt.MaxAttempts)
}

// policyText is a retry policy as a sentence: the delays, then the cap
// (0: one attempt more than the delays, as the store resolves it). The
// triggers page shows the rules' policy with it, a delivery's page the
// policy it was stored with.
func policyText(sched []time.Duration, maxAttempts int) string {
	if maxAttempts == 0 {
		maxAttempts = len(sched) + 1
	}
	if maxAttempts == 1 {
		return "no retries"
	}
	delays := make([]string, len(sched))
	for i, d := range sched {
		delays[i] = human(d)
	}
	return fmt.Sprintf("after %s; at most %d attempts", strings.Join(delays, ", "), maxAttempts)
}
