//go:build !linux

package main

import "syscall"

// childAttr is empty outside Linux, which alone has Pdeathsig. The harness
// measures on Linux (CPU and memory come from /proc); elsewhere it only
// needs to build, so that go build ./... works on every system the server
// supports. There a Ctrl-C also reaches the children, and they outlive a
// killed harness.
func childAttr() *syscall.SysProcAttr { return nil }
