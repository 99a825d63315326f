package delivery

import (
	"errors"

	"github.com/gofrs/flock"
)

// lockDir takes an exclusive lock on the file at path (created if need
// be), held until unlock: flock on Unix, LockFileEx on Windows. Both are
// tied to the open file, so the system drops the lock when the process
// dies and a crash never leaves the directory locked. It must hold on
// every system, not only on Unix: Open's crash recovery (rescueOrphans,
// direct.recover) runs again at once every job still marked running and
// every first attempt still held, which is only right while no other
// process can be running them.
func lockDir(path string) (unlock func(), err error) {
	l := flock.New(path)
	ok, err := l.TryLock()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("in use by another hookline process")
	}
	return func() { l.Close() }, nil // closing releases the lock
}
