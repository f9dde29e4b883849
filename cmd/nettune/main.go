// Command nettune finds where a Linux host loses packets and what to change.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/nettune/nettune/cmd/internal/cli"
)

func main() {
	os.Exit(cli.ExitCode(run(), os.Stderr))
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return cli.Execute(ctx, os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
}
