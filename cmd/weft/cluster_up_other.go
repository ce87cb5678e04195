//go:build !unix

package main

import "syscall"

// childProcAttr: no process groups here; cluster up stops its children
// itself when it is told to stop.
func childProcAttr() *syscall.SysProcAttr { return nil }
