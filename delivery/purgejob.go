package delivery

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// The retention job: a River periodic job, so that River's leader alone
// queues it (one node on PostgreSQL; SQLite has one anyway), run by
// whichever node fetches it, which purges what Config.Retention says is
// too old (retention.go).

const (
	// maintenanceQueue holds the retention job, one worker per node: apart
	// from the deliveries' queue, it never takes a delivery's worker and
	// deliveries never hold it up.
	maintenanceQueue = "hookline_maintenance"
	// maintenancePoll is how often a node looks for the job (LISTEN/NOTIFY
	// wakes PostgreSQL nodes at once): rarely, since on SQLite each look is
	// a write.
	maintenancePoll = time.Second
	// maxPurgeRun bounds one run of the job (see purgeRunLimit).
	maxPurgeRun = time.Minute
	// purgeJobAttempts: a run that failed is tried again this many times
	// in all on River's backoff; after that the next scheduled run
	// starts afresh.
	purgeJobAttempts = 3
)

type purgeArgs struct{}

func (purgeArgs) Kind() string { return "hookline.purge" }

// InsertOpts keep one retention job at a time: none is queued while
// another waits or runs, however long a run takes and however many nodes
// there are.
func (purgeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       maintenanceQueue,
		MaxAttempts: purgeJobAttempts,
		UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
			rivertype.JobStateRunning, rivertype.JobStateScheduled,
		}},
	}
}

type purgeWorker struct {
	river.WorkerDefaults[purgeArgs]
	s *Store
}

func (w *purgeWorker) Work(ctx context.Context, job *river.Job[purgeArgs]) error {
	s := w.s
	if s.cfg.Retention <= 0 {
		return nil // this node keeps everything; another queued the job
	}
	before := s.cfg.Now().Add(-s.cfg.Retention)
	res, done, err := s.purge(ctx, before, time.Now().Add(s.purgeRunLimit()))
	if res.Events > 0 {
		s.log.LogAttrs(ctx, slog.LevelInfo, "retention removed old events",
			slog.Int64("events", res.Events), slog.Int64("deliveries", res.Deliveries), slog.Int64("attempts", res.Attempts),
			slog.Time("before", before), slog.Bool("more", !done))
	}
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.LogAttrs(ctx, slog.LevelWarn, "retention failed; it will run again", slog.String("error", err.Error()))
		return err
	case err != nil || !done:
		// Out of time, or stopping: carry on at once, or on the next
		// start. A snooze is not an attempt.
		return river.JobSnooze(0)
	}
	return nil
}

// purgeRunLimit bounds one run of the retention job, which then snoozes to
// carry on: River's rescuer would take a job still running after
// RescueStuckJobsAfter for a dead node's and run it a second time, and
// JobTimeout would cancel it.
func (s *Store) purgeRunLimit() time.Duration {
	job, _ := s.timeouts()
	return min(maxPurgeRun, job/2)
}

// periodicJobs is the retention job's schedule, when Retention is set. It
// also runs when the leader starts, so that a node restarted more often
// than the interval still purges.
func (s *Store) periodicJobs() []*river.PeriodicJob {
	if s.cfg.Retention <= 0 {
		return nil
	}
	return []*river.PeriodicJob{river.NewPeriodicJob(
		river.PeriodicInterval(s.cfg.RetentionInterval),
		func() (river.JobArgs, *river.InsertOpts) { return purgeArgs{}, nil },
		&river.PeriodicJobOpts{ID: purgeArgs{}.Kind(), RunOnStart: true},
	)}
}

// jobRetention is how long River keeps the rows of finished jobs; zero
// fields take River's defaults (completed and cancelled 24 h, discarded
// 7 days).
type jobRetention struct{ completed, cancelled, discarded time.Duration }

// finishedJobRetention keeps River's finished jobs no longer than our own
// rows when Retention is shorter than River's defaults: a job row holds
// only a delivery's ID, and our tables, not River's, are the record of
// what happened (a retry by hand whose old job is gone makes a new one).
func (s *Store) finishedJobRetention() jobRetention {
	r := s.cfg.Retention
	if r <= 0 {
		return jobRetention{}
	}
	return jobRetention{completed: min(r, 24*time.Hour), cancelled: min(r, 24*time.Hour), discarded: min(r, 7*24*time.Hour)}
}
