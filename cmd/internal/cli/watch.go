package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/render"
)

// Terminal controls of the watch screen (xterm and everything since): the alternate screen
// keeps the user's scrollback intact, the cursor is hidden while frames are drawn.
const (
	altScreenOn  = "\033[?1049h\033[?25l"
	altScreenOff = "\033[?25h\033[?1049l"
	homeClear    = "\033[H\033[2J"
)

// watch is advise --watch: the probes stay attached, each interval ends one report, drawn in
// place on a terminal like top (q or Ctrl-C quits) and printed one after another when piped.
// Quitting detaches every probe (run.Close) and restores the terminal.
func watch(ctx context.Context, cfg Config, c *common, all bool) error {
	run := pipeline.Open(pipelineOptions(cfg))
	defer run.Close()
	prev, err := run.Sample()
	if err != nil {
		return classify(err)
	}
	out := c.s.Out
	screen := isTerminal(out)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if screen {
		if restore, err := keys(c.s.In, cancel); err == nil {
			defer restore()
		}
		fmt.Fprint(out, altScreenOn)
		defer fmt.Fprint(out, altScreenOff)
		fmt.Fprintf(out, "%snettune advise --watch: first report in %s (q quits)\n", homeClear, cfg.Interval)
	}
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil // q or Ctrl-C is how a watch ends
		case <-tick.C:
		}
		cur, err := run.Sample()
		if err != nil {
			return classify(err)
		}
		res, err := run.Analyze(prev, cur)
		if err != nil {
			return err
		}
		prev = cur
		look := c.look(out, all)
		if screen {
			fmt.Fprint(out, homeClear)
		}
		if err := render.Watch(out, res, look); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		if screen {
			fmt.Fprint(out, "\n(q quits)")
		} else {
			fmt.Fprintln(out)
		}
	}
}

// keys reads single key presses from a terminal on in: q (or Ctrl-C, if the terminal sends
// it as a byte) calls quit. Only canonical mode and echo are turned off, so Ctrl-C still
// raises SIGINT and output keeps its line endings; restore puts the terminal back.
func keys(in io.Reader, quit func()) (restore func(), err error) {
	f, ok := in.(*os.File)
	if !ok {
		return nil, fmt.Errorf("not a terminal")
	}
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	t := *old
	t.Lflag &^= unix.ICANON | unix.ECHO
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &t); err != nil {
		return nil, err
	}
	go func() {
		b := make([]byte, 1)
		for {
			if _, err := f.Read(b); err != nil {
				return
			}
			if b[0] == 'q' || b[0] == 'Q' || b[0] == 3 {
				quit()
				return
			}
		}
	}()
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}
