// Command nettune finds where a Linux host loses packets and what to change.
package main

import (
	"os"

	"github.com/nettune/nettune/cmd/internal/cli"
)

func main() {
	os.Exit(cli.ExitCode(run(), os.Stderr))
}

func run() error {
	return cli.Run(os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
}
