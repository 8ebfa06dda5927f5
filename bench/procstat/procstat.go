// Package procstat reads what the benchmarks need from /proc (memory of a
// process and of its descendants) and raises the open-file limit.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Field reads a "Name:  123 kB" field of a /proc file, in bytes.
func Field(path, name string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("procstat: %s %s %q: %w", path, name, v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("procstat: no %s in %s", name, path)
}

// RSS is the resident set size of pid, in bytes.
func RSS(pid int) (int64, error) { return Field(fmt.Sprintf("/proc/%d/status", pid), "VmRSS") }

// PSS is the proportional set size of pid (shared pages divided among the
// processes sharing them), in bytes.
func PSS(pid int) (int64, error) { return Field(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss") }

// Memory is RSS and PSS summed over a process tree.
type Memory struct{ RSS, PSS int64 }

// Tree sums RSS and PSS over pid and every descendant (forking servers
// have a process per session).
func Tree(pid int) (Memory, error) {
	var m Memory
	seen := map[int]bool{}
	var walk func(p int) error
	walk = func(p int) error {
		if seen[p] {
			return nil
		}
		seen[p] = true
		rss, err := RSS(p)
		if err != nil {
			return err
		}
		pss, _ := PSS(p)
		m.RSS += rss
		m.PSS += pss
		for _, child := range children(p) {
			_ = walk(child) // a child may exit meanwhile
		}
		return nil
	}
	return m, walk(pid)
}

// ticksPerSecond is USER_HZ, the unit of the times in /proc/PID/stat: 100
// on every Linux architecture Go supports.
const ticksPerSecond = 100

// CPU is the processor time (user + system) used so far by pid, its live
// descendants, and the descendants that have exited and been reaped (the
// kernel adds those to their parent's cutime/cstime). The difference of
// two readings is what a server, forking or not, spent in between.
func CPU(pid int) (time.Duration, error) {
	var ticks int64
	seen := map[int]bool{}
	var walk func(p int, top bool) error
	walk = func(p int, top bool) error {
		if seen[p] {
			return nil
		}
		seen[p] = true
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			return err
		}
		// The command name (field 2) may hold spaces: fields count from
		// the last ')'; utime, stime, cutime, cstime are fields 14-17.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			return fmt.Errorf("procstat: %d: malformed stat", p)
		}
		f := strings.Fields(string(b[i+1:])) // f[0] is field 3
		if len(f) < 15 {
			return fmt.Errorf("procstat: %d: short stat", p)
		}
		n := 2 // utime, stime
		if top {
			n = 4 // and the reaped children's
		}
		for _, v := range f[11 : 11+n] {
			t, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("procstat: %d: %w", p, err)
			}
			ticks += t
		}
		for _, child := range children(p) {
			_ = walk(child, false) // a child may exit meanwhile
		}
		return nil
	}
	if err := walk(pid, true); err != nil {
		return 0, err
	}
	return time.Duration(ticks) * time.Second / ticksPerSecond, nil
}

func children(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// RaiseNoFile lifts the soft open-file limit to the hard one and returns
// the limit now in force.
func RaiseNoFile() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 1024
	}
	lim.Cur = lim.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	return uint64(lim.Max) // int64 on some BSDs
}

// ThreadCPU is the processor time used so far by pid's live threads, in
// nanoseconds (the sum of /proc/PID/task/*/schedstat's first field): far
// finer than CPU's 10 ms ticks, for a handful of operations measured on
// a process that neither forks nor ends threads (a Go server), where
// CPU would read 0 or one tick. A thread's time is brought up to date
// when it leaves the CPU or at a scheduler tick: read it once the
// process is idle.
func ThreadCPU(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("procstat: %w", err)
	}
	var ns int64
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread ended meanwhile
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, fmt.Errorf("procstat: %d: empty schedstat", pid)
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("procstat: %d: schedstat: %w", pid, err)
		}
		ns += v
	}
	return time.Duration(ns), nil
}
