package main

import (
	"fmt"
	"regexp"
	"strings"
)

// guestCrash is a boot that ended in a guest kernel panic: where the tests were and what
// the console said. It stays in the report when a second boot of the kernel runs clean.
type guestCrash struct {
	Boot    int      // which boot of the kernel crashed, from 1
	During  []string // tests that had started and never ended
	Oops    []string // the console lines that say what happened (parseOops)
	Console string   // the crashed boot's console log, kept beside the run's logs
}

func (c guestCrash) String() string {
	during := "before any test"
	if len(c.During) > 0 {
		during = "during " + strings.Join(c.During, ", ")
	}
	var head []string
	for _, l := range c.Oops {
		if oopsHeader.MatchString(l) || strings.HasPrefix(l, "RIP: ") || strings.HasPrefix(l, "Kernel panic") {
			head = append(head, l)
		}
	}
	return fmt.Sprintf("guest kernel crash on boot %d %s: %s (console: %s)", c.Boot, during, strings.Join(head, "; "), c.Console)
}

var (
	consoleStamp = regexp.MustCompile(`^\[\s*\d+\.\d+\]\s?`)
	oopsHeader   = regexp.MustCompile(`^(WARNING: |BUG: |kernel BUG at |Oops: |general protection fault|watchdog: BUG: )`)
)

// maxFrames is how many call-trace frames per trace the summary keeps: enough to name the
// path, short enough to read in a CI log.
const maxFrames = 8

// parseOops returns what a console log says about a kernel panic: each warning, BUG or
// oops header, its first RIP line and first call-trace frames (without the "?" guesses),
// and the panic message. It returns nil when the console shows no panic: a guest that
// stopped for another reason is not a crash to boot again after.
func parseOops(console string) []string {
	lines := strings.Split(strings.ReplaceAll(console, "\r", ""), "\n")
	var out []string
	panicked := false
	inReport, inTrace, haveRIP := false, false, false
	frames := 0
	for _, raw := range lines {
		l := strings.TrimSpace(consoleStamp.ReplaceAllString(raw, ""))
		switch {
		case strings.HasPrefix(l, "Kernel panic - not syncing"):
			out = append(out, l)
			panicked = true
			inReport, inTrace = false, false
		case oopsHeader.MatchString(l):
			out = append(out, l)
			inReport, inTrace, haveRIP, frames = true, false, false, 0
		case !inReport:
		case strings.HasPrefix(l, "RIP: ") && !haveRIP:
			out = append(out, l)
			haveRIP = true
		case l == "Call Trace:":
			inTrace = true
		case strings.HasPrefix(l, "---[ end trace"):
			inReport, inTrace = false, false
		case inTrace && frames < maxFrames && l != "" && !strings.HasPrefix(l, "?") && !strings.HasPrefix(l, "<"):
			if strings.Contains(l, ": ") {
				inTrace = false // "RIP: 0033:…", the user-mode registers after the trace
				continue
			}
			out = append(out, "  "+l)
			frames++
		}
	}
	if !panicked {
		return nil
	}
	return out
}
