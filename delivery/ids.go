package delivery

import (
	"crypto/rand"
	"time"

	"github.com/oklog/ulid/v2"
)

// newID returns prefix + a ULID of now: 26 Crockford base-32 characters
// holding 48 bits of milliseconds then 80 random bits. Sorting IDs sorts
// them by creation time to the millisecond, which keeps index inserts
// append-mostly.
//
// The entropy is crypto/rand's Reader, which is safe for concurrent use,
// so concurrent Accept calls share no lock. ulid's monotonic entropy is
// not: it would need a mutex that every intake request contends on, for an
// order within one millisecond that nothing relies on. ulid.Make also
// takes math/rand and the wall clock instead of the store's Now.
func newID(prefix string, now time.Time) string {
	// MustNew cannot fail here: crypto/rand's Reader never returns an
	// error (Go crashes the program instead), and any real clock's time is
	// in ulid's range (1970 to the year 10889).
	id := ulid.MustNew(ulid.Timestamp(now), rand.Reader)
	out := make([]byte, len(prefix)+ulid.EncodedSize)
	copy(out, prefix)
	_ = id.MarshalTextTo(out[len(prefix):]) // the buffer has the exact size, its only error
	return string(out)
}
