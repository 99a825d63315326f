package main

import (
	"crypto/x509"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestRootsAndZonesWithoutSystemFiles runs itself again in a process that
// finds no CA certificates on the system, as in the FROM scratch image:
// the roots the binary carries must stand in for them.
func TestRootsAndZonesWithoutSystemFiles(t *testing.T) {
	if os.Getenv("HOOKLINE_TEST_NO_SYSTEM_ROOTS") == "1" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			t.Fatalf("SystemCertPool: %v", err)
		}
		if pool.Equal(x509.NewCertPool()) {
			t.Fatal("no CA roots without the system's: the fallback roots are not in the binary")
		}
		if _, err := time.LoadLocation("America/New_York"); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRootsAndZonesWithoutSystemFiles$", "-test.v")
	cmd.Env = append(os.Environ(), "HOOKLINE_TEST_NO_SYSTEM_ROOTS=1",
		"SSL_CERT_FILE=/nonexistent/hookline-test", "SSL_CERT_DIR=/nonexistent/hookline-test")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}
