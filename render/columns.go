package render

import (
	"io"
	"strings"
	"unicode/utf8"
)

// columns lays out a table with columns aligned by type: numbers right, text left, two
// spaces between columns and no trailing blanks. text/tabwriter aligns all columns one way.
type columns struct {
	right []bool // by column: right-aligned (numbers)
	rows  [][]string
	width int // wrap the last column (text) at this width, under itself; 0: never
}

func (c *columns) row(cells ...string) { c.rows = append(c.rows, cells) }

func (c *columns) write(w io.Writer) error {
	var width []int
	for _, r := range c.rows {
		for i, s := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], visibleLen(s))
		}
	}
	var b strings.Builder
	for _, r := range c.rows {
		var line strings.Builder
		for i, s := range r {
			if i > 0 {
				line.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[i]-visibleLen(s))
			switch {
			case i < len(c.right) && c.right[i]:
				line.WriteString(pad + s)
			case i == len(r)-1 && c.width > 0:
				at := visibleLen(line.String())
				s = wrap(line.String(), strings.Repeat(" ", at), s, c.width)
				line.Reset()
				line.WriteString(s)
			default:
				line.WriteString(s + pad)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// visibleLen is the columns a cell takes on a terminal: its runes without colour sequences.
func visibleLen(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] == '\033' {
			if j := strings.IndexByte(s[i:], 'm'); j > 0 {
				i += j + 1
				continue
			}
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n++
	}
	return n
}
