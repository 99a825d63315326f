package delivery

import (
	"crypto/rand"
	"time"
)

// crockford is the ULID alphabet: no I, L, O or U, so IDs read back
// unambiguously.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// newID returns prefix + 26 characters: 48 bits of milliseconds then 80
// random bits, like a ULID. Sorting IDs sorts them by creation time to the
// millisecond, which keeps index inserts append-mostly.
func newID(prefix string, now time.Time) string {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	rand.Read(b[6:]) // never fails (crypto/rand panics rather than return short)

	// 128 bits as 26 base-32 digits, most significant first; the first
	// digit holds only the top 3 bits.
	out := make([]byte, len(prefix)+26)
	copy(out, prefix)
	hi := uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
	lo := uint64(b[8])<<56 | uint64(b[9])<<48 | uint64(b[10])<<40 | uint64(b[11])<<32 |
		uint64(b[12])<<24 | uint64(b[13])<<16 | uint64(b[14])<<8 | uint64(b[15])
	for i := len(out) - 1; i >= len(prefix); i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out)
}
