//go:build unix

package delivery

import (
	"errors"
	"os"
	"syscall"
)

// lockDir takes an exclusive advisory lock on path, held until unlock. The
// kernel drops it when the process dies, so a crash never leaves the
// directory locked.
func lockDir(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errors.New("in use by another hookline process")
		}
		return nil, err
	}
	return func() { f.Close() }, nil // closing releases the lock
}
