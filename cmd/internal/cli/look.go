package cli

import (
	"errors"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/nettune/nettune/render"
)

// colorValue is --color: auto (colour on a terminal unless NO_COLOR is set), always, never.
type colorValue string

func (v *colorValue) String() string { return string(*v) }
func (v *colorValue) Type() string   { return "when" }
func (v *colorValue) Set(s string) error {
	switch s {
	case "auto", "always", "never":
		*v = colorValue(s)
		return nil
	}
	return errors.New("not one of auto, always, never")
}

// look is how a table is drawn on w: a terminal's width and colour, or, piped, neither
// (lines whole, for grep and scripts; docs/operations.md).
func (c *common) look(w io.Writer, all bool) render.Look {
	l := render.Look{All: all}
	f, tty := w.(*os.File)
	tty = tty && term.IsTerminal(int(f.Fd()))
	if tty {
		if width, _, err := term.GetSize(int(f.Fd())); err == nil && width > 0 {
			l.Width = width
		}
	}
	switch c.color {
	case "always":
		l.Color = true
	case "auto", "":
		// https://no-color.org: any non-empty NO_COLOR turns colour off.
		l.Color = tty && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
	}
	return l
}
