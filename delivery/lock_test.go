package delivery

import (
	"path/filepath"
	"testing"
)

// The lock is what lets Open treat running jobs as orphans: a second
// holder must be refused until the first lets go, and letting go must
// work, or a restarted server could never open its directory.
func TestLockDirRefusesSecondHolder(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "hookline.lock")
	unlock, err := lockDir(path)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := lockDir(path); err == nil || err.Error() != "in use by another hookline process" {
		if again != nil {
			again()
		}
		t.Fatalf("second lock while held: %v", err)
	}
	unlock()
	unlock2, err := lockDir(path)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}
