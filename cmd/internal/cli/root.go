// Package cli holds nettune's commands: flag and config handling, wiring of readers, probes,
// policy and applier, and exit statuses. The work itself lives in collect/, bpf/, policy/, apply/ and render/.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
)

// Streams are the command's standard streams, injected so tests can capture them.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// Run is the whole program: it cancels the command's context on SIGINT and SIGTERM (so probes
// detach and journals close) and runs args.
func Run(args []string, s Streams) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Execute(ctx, args, s)
}

// Execute runs nettune with args and returns an error whose kind decides the exit status
// (ExitCode).
func Execute(ctx context.Context, args []string, s Streams) error {
	root := newRoot(s)
	root.SetArgs(args)
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	return root.ExecuteContext(ctx)
}

// typeUsageErrors makes every error cobra and pflag raise about the command line a usage
// error (exit 2) by its origin, never by its wording: flag errors go through the flag error
// function, positional arguments through each command's Args, unknown commands through
// root's.
func typeUsageErrors(root *cobra.Command) {
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return asUsage(err) })
	root.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return usagef("%s", msg)
	}
	// A runnable root is what makes cobra call root.Args; without arguments it shows help.
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if args := sub.Args; args != nil {
				sub.Args = func(cmd *cobra.Command, a []string) error { return asUsage(args(cmd, a)) }
			}
			walk(sub)
		}
	}
	walk(root)
}

// common holds the flags every command shares.
type common struct {
	configFile string
	color      colorValue
	s          Streams
}

func newRoot(s Streams) *cobra.Command {
	c := &common{s: s}
	root := &cobra.Command{
		Use:   "nettune",
		Short: "Find where a Linux host loses packets, and what to change",
		Long: `nettune reads the kernel's own counters (and, where it can, in-path eBPF counts and
drop reasons) to show at which stage of the receive or transmit path packets are lost,
and proposes a bounded, ordered plan of sysctl, ring, RPS and qdisc changes.

Exit status: 0 no loss / success, 1 loss found (advise), 2 usage, config, interface,
netns, permission or untrusted-state error (nothing changed), 3 internal failure or a change
that failed part way (the message lists what was already changed; rollback undoes it).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&c.configFile, "config", "", "config file (default /etc/nettune/nettune.yaml if present)")
	c.color = "auto"
	root.PersistentFlags().Var(&c.color, "color", "colour in tables: auto (on a terminal, unless NO_COLOR is set), always, never")
	root.AddCommand(newAdvise(c), newApply(c), newRollback(c), newStatus(c), newRestore(c), newDrops(c), newCheck(c), newServe(c))
	addVersion(root)
	typeUsageErrors(root)
	return root
}

// config loads the configuration for a command whose flags are fs.
func (c *common) config(fs *pflag.FlagSet) (Config, error) {
	cfg, err := loadConfig(configFile(c.configFile), fs)
	if err != nil {
		return Config{}, asUsage(err)
	}
	return cfg, nil
}

// isTerminal reports whether w is a terminal (progress is shown only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
