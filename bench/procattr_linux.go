package main

import "syscall"

// childAttr gives a child (a server node or a reference role) its own
// process group, so a Ctrl-C in the terminal reaches the harness only,
// which then stops its children in order; and if the harness itself is
// killed, the kernel kills the child too.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
