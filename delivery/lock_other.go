//go:build !unix

package delivery

// lockDir is a no-op where flock is unavailable: running two servers on one
// data directory is then the operator's mistake to avoid.
func lockDir(string) (unlock func(), err error) { return func() {}, nil }
