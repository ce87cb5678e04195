//go:build linux

package main

import "syscall"

// childProcAttr puts a child of cluster up in its own process group (a
// Ctrl-C reaches cluster up alone, which stops the nodes before NATS) and
// has the kernel send it SIGTERM if cluster up dies without stopping it.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
