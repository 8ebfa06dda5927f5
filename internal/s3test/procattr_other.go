//go:build !linux

package s3test

import "syscall"

// procAttr: no parent-death signal outside Linux.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
