package delivery

import "testing"

// The statement's text, which pgx prepares once per connection, changes
// exactly when the rows it has handled double, and only then.
func TestReplannedAsRowsDouble(t *testing.T) {
	var g growth
	const q = "SELECT 1"
	var changes []int64
	last := ""
	for range 100 {
		got := g.replanned(q, 3)
		if got != last {
			changes = append(changes, g.rows.Load())
			last = got
		}
	}
	// Rows after each call: 3, 6, 9, ...; a new text at the first total
	// of each power of two's range: 3 (2-3), 6 (4-7), 9 (8-15), 18, 33,
	// 66, 129, 258.
	want := []int64{3, 6, 9, 18, 33, 66, 129, 258}
	if len(changes) != len(want) {
		t.Fatalf("the text changed at %v rows, want %v", changes, want)
	}
	for i := range want {
		if changes[i] != want[i] {
			t.Fatalf("the text changed at %v rows, want %v", changes, want)
		}
	}
	if got := g.replanned(q, 0); got != q+" /* plan 9 */" {
		t.Errorf("replanned = %q", got)
	}
}
