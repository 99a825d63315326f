// Package delivery keeps accepted events and their deliveries durably and
// runs every delivery through its executor, at least once, until it is
// delivered or dead-lettered.
//
// The database holds the truth: one row per event, one per delivery (with the
// rendered content it will send, secrets as references only) and one per
// attempt. A River job is only the trigger that makes a worker attempt a
// delivery. Each attempt has its own job: the transaction that records an
// attempt also queues the job of the next one, and a finished job is never
// revived, so the queue and the delivery rows cannot disagree about what
// happens next. A fresh delivery's first attempt needs no job: it is held
// in memory by the process that accepted it, or on SQLite, which one
// process owns, spilled to the database when memory is full and read back
// in order (direct.go, spill.go); on PostgreSQL each node holds its own
// under its number in a registry, and the others take over a dead node's
// (nodes.go). If the database refuses its record, only the record is tried
// again, since the peer has it already (unrecorded.go).
//
// The database is SQLite in a data directory (one process) or PostgreSQL
// (several processes, "nodes", sharing it); everything that knows which
// lives in sqlite.go or postgres.go, behind one code path over database/sql
// and River's river.Client[*sql.Tx]. Concurrent Accept calls share
// transactions (group commit, commit.go), each event keeping its own
// outcome.
package delivery
