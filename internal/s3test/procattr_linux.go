package s3test

import "syscall"

// procAttr makes weed die with the test binary (a test killed by its
// timeout leaves no store behind).
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
