//go:build unix && !linux

package main

import "syscall"

// childProcAttr puts a child of cluster up in its own process group: a
// Ctrl-C reaches cluster up alone, which stops the nodes before NATS.
func childProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
