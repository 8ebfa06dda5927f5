// Command ftpfloor runs bench/floor: NOT an FTP server, but the system-call
// floor of the benchmarks, a raw epoll loop per core that answers only the
// dialogues of ftpbench's logins, small, retr and list scenarios with fixed
// replies (see the package's documentation). bench/peers/peers.sh starts it
// as the servers "floor" (LIST on the loop's thread) and "floor-parallel"
// (LIST's stats split over --list-threads threads).
//
//	ftpfloor --addr 127.0.0.1:2121 --root DIR --file small.bin,big.bin --user U --pass P [--list-threads 2]
//
// It serves until SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gnetftp/gnetftp/bench/floor"
)

func main() {
	var cfg floor.Config
	flag.StringVar(&cfg.Addr, "addr", "127.0.0.1:2121", "IPv4 host:port to listen on")
	flag.IntVar(&cfg.Loops, "loops", 0, "epoll loops, one listener each (0: one per CPU)")
	flag.StringVar(&cfg.User, "user", "ftpbench", "the one user accepted")
	flag.StringVar(&cfg.Pass, "pass", "ftpbench", "its password")
	flag.StringVar(&cfg.Root, "root", ".", "directory holding --file and the directories LIST is asked for")
	files := flag.String("file", "small.bin", "the files RETR serves, comma separated, relative to --root (each opened once)")
	flag.IntVar(&cfg.ListThreads, "list-threads", 1, "threads per loop sharing a LIST's fstatat calls (1: the loop's own)")
	flag.Parse()
	cfg.Files = strings.Split(*files, ",")
	s, err := floor.Start(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ftpfloor:", err)
		os.Exit(1)
	}
	fmt.Printf("ftpfloor on %s: not an FTP server, the syscall floor (list threads %d)\n", s.Addr(), max(cfg.ListThreads, 1))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	_ = s.Close()
}
