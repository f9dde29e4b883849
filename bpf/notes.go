package bpf

import (
	"fmt"
	"strings"
)

// notesPerLine is how many link names a grouped note lists before "and N more".
const notesPerLine = 3

// notes collects Attach's notes in order. The same note about many links (a thousand veths
// all get "xdp off: auto: …") is kept once with the links it applies to.
type notes struct {
	order []string
	links map[string][]string // note → links ("" for notes about no link)
}

func (n *notes) add(link, msg string) {
	if n.links == nil {
		n.links = map[string][]string{}
	}
	if _, ok := n.links[msg]; !ok {
		n.order = append(n.order, msg)
	}
	if link != "" || n.links[msg] == nil {
		n.links[msg] = append(n.links[msg], link)
	}
}

// list renders each note once: "eth0: msg", "va0, va1, va2 and 997 more links: msg".
func (n *notes) list() []string {
	out := make([]string, 0, len(n.order))
	for _, msg := range n.order {
		var named []string
		for _, l := range n.links[msg] {
			if l != "" {
				named = append(named, l)
			}
		}
		switch {
		case len(named) == 0:
			out = append(out, msg)
		case len(named) <= notesPerLine:
			out = append(out, strings.Join(named, ", ")+": "+msg)
		default:
			out = append(out, fmt.Sprintf("%s and %d more links: %s",
				strings.Join(named[:notesPerLine], ", "), len(named)-notesPerLine, msg))
		}
	}
	return out
}
