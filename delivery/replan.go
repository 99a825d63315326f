package delivery

import (
	"math/bits"
	"strconv"
	"sync/atomic"
)

// pgx prepares each statement once per connection, and after five runs
// PostgreSQL may settle on a generic plan, kept until something
// invalidates it (an ANALYZE of the table, which autovacuum runs a minute
// or more after it has grown). A statement over an array of IDs prepared
// while its table was new and small gets a sequential scan for a plan,
// and kept it as the table grew: the reads of held attempts (checks) and
// the batched records (deliveredBatch) then scanned the whole table, and
// deliveries fell to a sixth of their rate within a minute of a new
// store's start. Planning every run instead cost PostgreSQL a sixth of
// its CPU per event (bench/README.md, "A fourth round").
//
// growth has such a statement prepared again each time the rows it has
// handled on this node double: each time, PostgreSQL plans it for the
// table as it is now, and a plan made when the table was small lasts
// until the table is about twice as large (on one node; n times that
// with n nodes sharing the work), a few dozen times in a store's life.
// These statements run on sessions that use the generic plan from the
// first run (backend.generic): by default PostgreSQL compared it with
// plans for each array's length, found those cheaper and made one at
// every run, which cost as much as planning every run.
type growth struct{ rows atomic.Int64 }

// replanned counts n more rows and returns q as it is to be prepared now:
// with a comment naming the doubling, which PostgreSQL ignores and pgx
// does not.
func (g *growth) replanned(q string, n int) string {
	return q + " /* plan " + strconv.Itoa(bits.Len64(uint64(g.rows.Add(int64(n))))) + " */"
}
