package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

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
// With no --netns (wholeNode) the report is the node's: every namespace, discovered again
// each interval. Quitting detaches every probe (Close) and restores the terminal.
func watch(ctx context.Context, cfg Config, c *common, all bool) error {
	if wholeNode(cfg) {
		return watchNode(ctx, cfg, c, all)
	}
	run := pipeline.Open(pipelineOptions(cfg))
	defer run.Close()
	prev, err := run.Sample()
	if err != nil {
		return classify(err)
	}
	return watchLoop(ctx, cfg, c, all, func(context.Context) (drawer, error) {
		cur, err := run.Sample()
		if err != nil {
			return nil, classify(err)
		}
		res, err := run.Analyze(prev, cur)
		if err != nil {
			return nil, err
		}
		prev = cur
		return func(w io.Writer, look render.Look) error { return render.Watch(w, res, look) }, nil
	})
}

// watchNode is advise --watch over every namespace: the node is opened once (probes attached
// in the namespaces found then), then sampled each interval. A namespace that appears is
// examined from its next interval, one that vanished drops out (pipeline.Node.Analyze).
func watchNode(ctx context.Context, cfg Config, c *common, all bool) error {
	node, err := pipeline.OpenNode(pipelineOptions(cfg))
	if err != nil {
		return classify(err)
	}
	defer node.Close()
	prev, err := node.Sample()
	if err != nil {
		return classify(err)
	}
	return watchLoop(ctx, cfg, c, all, func(ctx context.Context) (drawer, error) {
		cur, err := node.Sample()
		if err != nil {
			return nil, classify(err)
		}
		res, err := node.Analyze(ctx, prev, cur)
		if err != nil {
			return nil, err
		}
		prev = cur
		return func(w io.Writer, look render.Look) error { return render.NodeWatch(w, res, look) }, nil
	})
}

// drawer draws one interval's frame.
type drawer func(io.Writer, render.Look) error

// watchLoop calls next at the end of every interval and draws what it measured: on a
// terminal in place on the alternate screen, cut to the terminal's height; piped, one frame
// after another. It ends, with no error, when q or Ctrl-C ends ctx.
func watchLoop(ctx context.Context, cfg Config, c *common, all bool, next func(context.Context) (drawer, error)) error {
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
	var frame bytes.Buffer
	for {
		select {
		case <-ctx.Done():
			return nil // q or Ctrl-C is how a watch ends
		case <-tick.C:
		}
		draw, err := next(ctx)
		if ctx.Err() != nil {
			return nil // quit while the interval was read
		}
		if err != nil {
			return err
		}
		look := c.look(out, all)
		frame.Reset()
		if err := draw(&frame, look); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		b := frame.Bytes()
		if screen {
			// Two rows stay for the blank line and "(q quits)" below the frame.
			b = render.Fit(b, look.Width, termHeight(out)-2)
			fmt.Fprint(out, homeClear)
		}
		if _, err := out.Write(b); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		if screen {
			fmt.Fprint(out, "\n(q quits)")
		} else {
			fmt.Fprintln(out)
		}
	}
}

// termHeight is the rows of the terminal w is, 0 when unknown.
func termHeight(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	_, h, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return h
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
