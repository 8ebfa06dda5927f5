// Package procstat reads what the benchmarks need from /proc (memory of a
// process and of its descendants) and raises the open-file limit.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
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
	return lim.Max
}
