// Command lineecho serves the lineecho example protocol: every line sent
// is echoed back, QUIT closes. It shows the whole "build your own line
// protocol" path: a protocol on linereceiver, served by the gnet reactor.
//
//	go run ./cmd/lineecho --listen 127.0.0.1:7000
//	printf 'hello\r\nQUIT\r\n' | nc 127.0.0.1 7000
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gnetftp/gnetftp/linereceiver/lineecho"
	"github.com/gnetftp/gnetftp/reactor"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:7000", "address to listen on")
	idle := flag.Duration("idle-timeout", 5*time.Minute, "close idle connections after this long")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	r := reactor.New(reactor.Config{Logger: logger})
	if err := r.Listen(*listen, &lineecho.Factory{Idle: *idle}); err != nil {
		fmt.Fprintln(os.Stderr, "lineecho:", err)
		os.Exit(2)
	}
	if err := r.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "lineecho:", err)
		os.Exit(1)
	}
	fmt.Printf("lineecho: listening on %s\n", r.Addrs()[0])

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Shutdown(shutdownCtx); err != nil {
		logger.Warn("shutdown forced", "err", err)
	}
}
