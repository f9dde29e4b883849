package render

import (
	"fmt"
	"strings"

	"github.com/nettune/nettune/policy"
)

// evidenceLines writes a finding's evidence, each fact once: counters that counted the same
// drops (TcpExt.ListenOverflows and ListenDrops move together on an accept-queue overflow)
// share one line, "A = B +1,500 (…)".
func evidenceLines(es []policy.Evidence) []string {
	var out []string
	for i := 0; i < len(es); {
		e := es[i]
		names := []string{e.Counter}
		j := i + 1
		for ; j < len(es) && e.Note == "" && sameDrops(e, es[j]); j++ {
			names = append(names, es[j].Counter)
		}
		s := fmt.Sprintf("%s +%s (%s/s", strings.Join(names, " = "), countN(e.Delta), rate(e.Rate))
		if e.Of != "" {
			s += fmt.Sprintf(", %s of %s", pct(e.Ratio), e.Of)
		}
		s += ")"
		if e.Note != "" {
			s += "; " + e.Note
		}
		out = append(out, s)
		i = j
	}
	return out
}

func sameDrops(a, b policy.Evidence) bool {
	return b.Note == "" && a.Delta == b.Delta && a.Of == b.Of && a.Ratio == b.Ratio
}
