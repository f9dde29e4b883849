package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nettune/nettune/tools/kernelmatrix/vm"
)

const modulePath = "github.com/nettune/nettune/"

// kernelRun is everything one kernel's boot produced.
type kernelRun struct {
	Kernel   kernel
	Mode     string // qemu accelerator: tcg (software emulation) or kvm
	Elapsed  time.Duration
	Release  string // uname -r reported by the guest
	Results  []vm.TestResult
	Notes    []string // what /init reported (modules that failed to load)
	Problems []string // failures outside a test: crash, timeout, boot error
	PkgTimes []pkgTime
	Crashes  []guestCrash // boots of this kernel that panicked (bootUntilClean)
	Flakes   []flake      // tests that failed, then passed on a second boot (retryFailures)

	crash                *guestCrash // this boot ended in a guest kernel panic
	consoleLog, guestLog string
}

// unfinished names the tests that started and never ended: where a crashed guest was.
func (r kernelRun) unfinished() []string {
	var names []string
	for _, t := range r.Results {
		if t.Outcome == vm.Unfinished {
			names = append(names, shortPkg(t.Package)+" "+t.Test)
		}
	}
	return names
}

// pkgTime is how long one test binary ran in the guest.
type pkgTime struct {
	Pkg     string
	Seconds float64
}

func (r kernelRun) pkgTimes() string {
	var parts []string
	for _, p := range r.PkgTimes {
		parts = append(parts, fmt.Sprintf("%s %.1fs", shortPkg(p.Pkg), p.Seconds))
	}
	return list(parts)
}

func (r kernelRun) count(o vm.Outcome) int {
	n := 0
	for _, t := range r.Results {
		if t.Outcome == o {
			n++
		}
	}
	return n
}

// matrix is the whole run, as reported.
type matrix struct {
	Runs       []kernelRun
	Builds     []testBinary
	Prepare    []string // kernels that could not be prepared, with the reason
	Timing     []phase
	Total      time.Duration
	FinishedAt time.Time
}

type phase struct {
	Name string
	Took time.Duration
}

// failed reports whether anything failed: a test, a build, a kernel, a VM.
func (m matrix) failed() bool {
	if len(m.Prepare) > 0 {
		return true
	}
	for _, b := range m.Builds {
		if b.BuildErr != "" {
			return true
		}
	}
	for _, r := range m.Runs {
		if len(r.Problems) > 0 || r.count(vm.Fail) > 0 || r.count(vm.Unfinished) > 0 {
			return true
		}
	}
	return false
}

func shortPkg(p string) string { return strings.TrimPrefix(p, modulePath) }

// testKey names a test across kernels.
type testKey struct{ Pkg, Test string }

// tests returns every test seen on any kernel, by package then name.
func (m matrix) tests() []testKey {
	seen := map[testKey]bool{}
	var keys []testKey
	for _, r := range m.Runs {
		for _, t := range r.Results {
			k := testKey{t.Package, t.Test}
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.SliceStable(keys, func(i, j int) bool { return keys[i].Pkg < keys[j].Pkg })
	return keys
}

func (r kernelRun) result(k testKey) (vm.TestResult, bool) {
	for _, t := range r.Results {
		if t.Package == k.Pkg && t.Test == k.Test {
			return t, true
		}
	}
	return vm.TestResult{}, false
}

// notable lists skips (with reasons), failures and problems, one line each.
func (m matrix) notable() []string {
	var lines []string
	for _, b := range m.Builds {
		if b.BuildErr != "" {
			lines = append(lines, fmt.Sprintf("BUILD FAILED %s: %s", shortPkg(b.ImportPath), firstLine(b.BuildErr)))
		}
	}
	lines = append(lines, m.Prepare...)
	for _, r := range m.Runs {
		for _, c := range r.Crashes {
			lines = append(lines, fmt.Sprintf("%s: CRASHED %s", r.Kernel.Series, c))
		}
		for _, f := range r.Flakes {
			lines = append(lines, fmt.Sprintf("%s: FLAKY %s", r.Kernel.Series, f))
		}
		for _, p := range r.Problems {
			lines = append(lines, fmt.Sprintf("%s: PROBLEM %s", r.Kernel.Series, p))
		}
		for _, n := range r.Notes {
			lines = append(lines, fmt.Sprintf("%s: note %s", r.Kernel.Series, n))
		}
		for _, t := range r.Results {
			if t.Outcome != vm.Pass {
				lines = append(lines, fmt.Sprintf("%s: %s %s %s: %s", r.Kernel.Series, strings.ToUpper(string(t.Outcome)),
					shortPkg(t.Package), t.Test, t.Reason()))
			}
		}
	}
	return lines
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// writeText prints the report for a terminal or CI log.
func (m matrix) writeText(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "kernel\trelease\tpackage version\tmode\ttime\tpass\tfail\tskip\tunfinished")
	for _, r := range m.Runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", r.Kernel.Series, r.Release, r.Kernel.Version, r.Mode,
			secs(r.Elapsed), r.count(vm.Pass), r.count(vm.Fail), r.count(vm.Skip), r.count(vm.Unfinished))
	}
	tw.Flush()
	fmt.Fprintln(w)
	head := []string{"test"}
	for _, r := range m.Runs {
		head = append(head, r.Kernel.Series)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, k := range m.tests() {
		row := []string{shortPkg(k.Pkg) + " " + k.Test}
		for _, r := range m.Runs {
			row = append(row, cell(r, k))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	if n := m.notable(); len(n) > 0 {
		fmt.Fprintln(w, "\nskips, failures and problems:")
		for _, l := range n {
			fmt.Fprintln(w, "  "+l)
		}
	}
	for _, r := range m.Runs {
		for _, c := range r.Crashes {
			fmt.Fprintf(w, "\n%s: guest kernel crash on boot %d, console %s:\n", r.Kernel.Series, c.Boot, c.Console)
			for _, l := range c.Oops {
				fmt.Fprintln(w, "    "+l)
			}
		}
	}
	fmt.Fprintln(w, "\ntest binary run times (guest clock):")
	for _, r := range m.Runs {
		fmt.Fprintf(w, "  %s: %s\n", r.Kernel.Series, r.pkgTimes())
	}
	fmt.Fprintln(w, "\nmodules:")
	for _, r := range m.Runs {
		fmt.Fprintf(w, "  %s: loaded %s; built in %s; missing %s\n", r.Kernel.Series, list(r.Kernel.Load),
			list(r.Kernel.Builtin), list(r.Kernel.Missing))
	}
	fmt.Fprint(w, "\ntiming:")
	for _, p := range m.Timing {
		fmt.Fprintf(w, " %s %s,", p.Name, secs(p.Took))
	}
	fmt.Fprintf(w, " total %s\n", secs(m.Total))
}

func cell(r kernelRun, k testKey) string {
	t, ok := r.result(k)
	if !ok {
		return "-"
	}
	if r.flaky(k) {
		return "FLAKY"
	}
	return strings.ToUpper(string(t.Outcome))
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, " ")
}

// markdown renders the results section of docs/kernel-matrix.md.
func (m matrix) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Last run: %s, total %s (", m.FinishedAt.UTC().Format("2006-01-02 15:04 MST"), secs(m.Total))
	for i, p := range m.Timing {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", p.Name, secs(p.Took))
	}
	b.WriteString(").\n\n| kernel | release | package version | mode | boot + tests | pass | fail | skip |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range m.Runs {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d | %d | %d |\n", r.Kernel.Series, r.Release, r.Kernel.Version, r.Mode,
			secs(r.Elapsed), r.count(vm.Pass), r.count(vm.Fail)+r.count(vm.Unfinished), r.count(vm.Skip))
	}
	b.WriteString("\n| test |")
	for _, r := range m.Runs {
		fmt.Fprintf(&b, " %s |", r.Kernel.Series)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(m.Runs)) + "\n")
	for _, k := range m.tests() {
		fmt.Fprintf(&b, "| %s `%s` |", shortPkg(k.Pkg), k.Test)
		for _, r := range m.Runs {
			fmt.Fprintf(&b, " %s |", strings.ToLower(cell(r, k)))
		}
		b.WriteString("\n")
	}
	if n := m.notable(); len(n) > 0 {
		b.WriteString("\nSkips (with the test's reason), failures and problems:\n\n")
		for _, l := range n {
			fmt.Fprintf(&b, "- %s\n", strings.ReplaceAll(l, "|", `\|`))
		}
	}
	for _, r := range m.Runs {
		for _, c := range r.Crashes {
			fmt.Fprintf(&b, "\nGuest kernel crash on %s, boot %d (console excerpt):\n\n", r.Kernel.Series, c.Boot)
			for _, l := range c.Oops {
				b.WriteString("    " + l + "\n")
			}
		}
	}
	b.WriteString("\nTest binary run times per kernel (guest clock):\n\n")
	for _, r := range m.Runs {
		fmt.Fprintf(&b, "- %s: %s\n", r.Kernel.Series, r.pkgTimes())
	}
	b.WriteString("\nModules per kernel (loaded with insmod / built in / not available):\n\n")
	for _, r := range m.Runs {
		fmt.Fprintf(&b, "- %s: %s / %s / %s\n", r.Kernel.Series, list(r.Kernel.Load), list(r.Kernel.Builtin), list(r.Kernel.Missing))
	}
	return b.String()
}

const (
	docBegin = "<!-- kernelmatrix results: begin (written by go run ./tools/kernelmatrix) -->"
	docEnd   = "<!-- kernelmatrix results: end -->"
)

// spliceResults replaces the text between the result markers of doc (appending the markers
// when absent), leaving the hand-written rest of the document alone.
func spliceResults(doc, results string) string {
	section := docBegin + "\n\n" + results + "\n" + docEnd
	i, j := strings.Index(doc, docBegin), strings.Index(doc, docEnd)
	if i < 0 || j < i {
		if doc != "" && !strings.HasSuffix(doc, "\n") {
			doc += "\n"
		}
		return doc + "\n" + section + "\n"
	}
	return doc[:i] + section + doc[j+len(docEnd):]
}

func writeDoc(path string, m matrix) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return os.WriteFile(path, []byte(spliceResults(string(old), m.markdown())), 0o644)
}
