package render

import "strings"

// Look is how the table is drawn for where it goes (docs/operations.md): a terminal's width
// and colour, or neither when piped.
type Look struct {
	// Width wraps prose (summaries, reasons, advice) at word boundaries, never inside a number
	// or a command, and sizes the funnel bars. 0 (piped output): lines stay whole, for grep
	// and scripts, and the bars take their 80-column size.
	Width int
	Color bool // ANSI colour for severity, class and the funnel's drops
	All   bool // draw every funnel with traffic, not only those that lost packets
}

// SGR styles, applied only with Look.Color.
const (
	styleBold  = "1"
	styleDim   = "2"
	styleRed   = "31"
	styleGreen = "32"
	styleAmber = "33"
	styleMag   = "35"
	styleLoss  = "1;31"
)

func (l Look) paint(style, s string) string {
	if !l.Color || s == "" {
		return s
	}
	return "\033[" + style + "m" + s + "\033[0m"
}

var severityStyle = map[string]string{"critical": styleLoss, "warning": styleAmber, "info": styleDim}
var classStyle = map[string]string{"capacity": styleRed, "policy": styleMag, "benign": styleDim}

// wrap breaks text into lines of at most width runes after the first line's prefix, the
// next lines indented by indent; words (numbers, commands, paths) are never split, so a word
// longer than the room stays whole on its own line. width 0 leaves the text on one line.
func wrap(prefix, indent, text string, width int) string {
	last := prefix[strings.LastIndexByte(prefix, '\n')+1:] // the line the text continues
	if width <= 0 || visibleLen(last)+visibleLen(text) <= width {
		return prefix + text
	}
	var b strings.Builder
	b.WriteString(prefix)
	col := visibleLen(last)
	start := col
	for _, w := range strings.Fields(text) {
		n := visibleLen(w)
		if col > start && col+1+n > width {
			b.WriteString("\n" + indent)
			col = visibleLen(indent)
			start = col
		} else if col > start {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += n
	}
	return b.String()
}
