package render

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/nettune/nettune/pipeline"
)

// DropsOptions shape the table of the live drops view.
type DropsOptions struct {
	Top   int  // rows per frame; the rest is counted in one line
	Clear bool // clear the terminal before each frame (a live view on a terminal)
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

func dropsTable(w io.Writer, fr pipeline.DropFrame, o DropsOptions) error {
	if o.Clear {
		fmt.Fprint(w, "\033[H\033[2J")
	}
	var total float64
	for _, r := range fr.Drops {
		total += r.Rate
	}
	fmt.Fprintf(w, "%s  drops: %.0f/s  (Ctrl-C to stop)\n", fr.Time.Format("15:04:05"), total)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "RATE/s\tCOUNT\tREASON\tLOCATION\tIFACE\tNETNS\n")
	for i, r := range fr.Drops {
		if i == o.Top {
			fmt.Fprintf(tw, "…\t%d more\t\t\t\t\n", len(fr.Drops)-o.Top)
			break
		}
		iface := r.Link
		if iface == "" {
			iface = fmt.Sprintf("if%d", r.Ifindex)
			if r.Ifindex == 0 {
				iface = "-"
			}
		}
		fmt.Fprintf(tw, "%.1f\t%d\t%s\t%s\t%s\t%d\n", r.Rate, r.Count, r.Reason, r.Location, iface, r.Netns)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !o.Clear {
		_, err := fmt.Fprintln(w)
		return err
	}
	return nil
}
