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
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gnetftp/gnetftp/linereceiver/lineecho"
	"github.com/gnetftp/gnetftp/reactor"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "lineecho:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lineecho", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:7000", "address to listen on")
	idle := fs.Duration("idle-timeout", 5*time.Minute, "close idle connections after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	r := reactor.New(reactor.Config{Logger: logger})
	if err := r.Listen(*listen, &lineecho.Factory{Idle: *idle}); err != nil {
		return err
	}
	if err := r.Start(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lineecho: listening on %s\n", r.Addrs()[0])
	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Shutdown(shutdownCtx); err != nil {
		logger.Warn("shutdown forced", "err", err)
	}
	return nil
}
