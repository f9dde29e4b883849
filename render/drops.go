package render

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nettune/nettune/pipeline"
)

// DropsOptions shape the table of the live drops view.
type DropsOptions struct {
	Top   int  // rows per frame; the rest is counted in one line
	Clear bool // clear the terminal before each frame (a live view on a terminal)
	Look  Look // colour for the counts and reasons on a terminal
}

// Drops writes one frame of the live drops view: JSON is one object per line (a stream),
// the table one block per frame.
func Drops(w io.Writer, f Format, fr pipeline.DropFrame, o DropsOptions) error {
	switch f {
	case FormatJSON:
		return json.NewEncoder(w).Encode(fr)
	case FormatTable:
		return dropsTable(w, fr, o)
	}
	return errFormat("drops", f)
}

// dropsTable is one block per interval: a header with the time and the total, then one
// row per reason, place, interface and namespace with the drops of the interval (one
// number: a count, the interval being in the header).
func dropsTable(w io.Writer, fr pipeline.DropFrame, o DropsOptions) error {
	if o.Clear {
		fmt.Fprint(w, "\033[H\033[2J")
	}
	var total uint64
	for _, r := range fr.Drops {
		total += r.Count
	}
	fmt.Fprintf(w, "%s  %s in %s\n", fr.Time.Format("15:04:05"), plural(total, "drop", "drops"), time.Duration(fr.IntervalSeconds*float64(time.Second)).Round(time.Millisecond))
	if len(fr.Drops) == 0 {
		return blankLine(w, o)
	}
	t := &columns{right: []bool{true}}
	t.row("DROPS", "REASON", "LOCATION", "IFACE", "NETNS")
	for i, r := range fr.Drops {
		if i == o.Top {
			var rest uint64
			for _, x := range fr.Drops[i:] {
				rest += x.Count
			}
			t.row(countN(rest), fmt.Sprintf("… %d more rows", len(fr.Drops)-o.Top), "", "", "")
			break
		}
		iface := r.Link
		if iface == "" {
			iface = "if" + strconv.Itoa(r.Ifindex)
			if r.Ifindex == 0 {
				iface = "-"
			}
		}
		ns := r.NetnsName
		if ns == "" {
			ns = fmt.Sprintf("net:[%d]", r.Netns)
		}
		t.row(o.Look.paint(styleRed, countN(r.Count)), o.Look.paint(styleBold, r.Reason), r.Location, iface, ns)
	}
	if err := t.write(w); err != nil {
		return err
	}
	return blankLine(w, o)
}

// blankLine separates frames that scroll; a cleared screen needs none.
func blankLine(w io.Writer, o DropsOptions) error {
	if o.Clear {
		return nil
	}
	_, err := fmt.Fprintln(w)
	return err
}
