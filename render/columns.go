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
}

func (c *columns) row(cells ...string) { c.rows = append(c.rows, cells) }

func (c *columns) write(w io.Writer) error {
	var width []int
	for _, r := range c.rows {
		for i, s := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(s))
		}
	}
	var b strings.Builder
	for _, r := range c.rows {
		var line strings.Builder
		for i, s := range r {
			if i > 0 {
				line.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(s))
			if i < len(c.right) && c.right[i] {
				line.WriteString(pad + s)
			} else {
				line.WriteString(s + pad)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
