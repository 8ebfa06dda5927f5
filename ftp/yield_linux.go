package ftp

import "syscall"

// yieldToPeer gives up the processor for a moment (sched_yield): see
// settle.
func yieldToPeer() { _, _, _ = syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }
