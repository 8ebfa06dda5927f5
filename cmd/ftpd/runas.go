package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"runtime"
	"strconv"
	"syscall"
)

// dropPrivileges makes the whole process run as name and its groups
// (supplementary groups first, then the group, then the user, as vsftpd's
// privilege separation does). On Linux Go applies each call to every
// thread. It is done after the listeners are bound, so a server started
// as root can listen on port 21; afterwards every file it creates belongs
// to that user and every permission check is that user's. A session that
// connected in between has done nothing but read a greeting: filesystem
// work needs a login, which comes after.
func dropPrivileges(name string) error {
	if runtime.GOOS != "linux" {
		return errors.New("--run-as is supported on Linux only (Go changes the credentials of every thread there)")
	}
	if os.Geteuid() != 0 {
		return errors.New("--run-as needs ftpd to be started as root (to bind port 21 without root, use setcap cap_net_bind_service=+ep on the binary instead)")
	}
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("--run-as %s: %w", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("--run-as %s: uid %q / gid %q are not numbers", name, u.Uid, u.Gid)
	}
	if uid == 0 {
		return fmt.Errorf("--run-as %s: that is root", name)
	}
	ids, err := u.GroupIds()
	if err != nil {
		return fmt.Errorf("--run-as %s: groups: %w", name, err)
	}
	groups := []int{gid}
	for _, g := range ids {
		if n, err := strconv.Atoi(g); err == nil && n != gid {
			groups = append(groups, n)
		}
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("--run-as %s: setgroups: %w", name, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("--run-as %s: setgid: %w", name, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("--run-as %s: setuid: %w", name, err)
	}
	if os.Geteuid() != uid || os.Getegid() != gid {
		return fmt.Errorf("--run-as %s: still uid %d gid %d", name, os.Geteuid(), os.Getegid())
	}
	return nil
}
