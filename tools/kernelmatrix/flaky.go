package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/nettune/nettune/tools/kernelmatrix/vm"
)

// maxFlakeTests is how many failed top-level tests one kernel may have and still be booted
// again for them: more failures than this point at a regression, not at a noisy test.
const maxFlakeTests = 3

// flake is a test that failed on a kernel's first boot and passed when that kernel was
// booted again to run only its failed tests. It stays in the report.
type flake struct {
	Key     testKey
	Reason  string // the first failure's last line
	Output  string // the first failure's output
	TestLog string // the first boot's test log, kept beside the run's logs
}

func (f flake) String() string {
	reason := "" // a parent that failed only through its subtests has none
	if f.Reason != "" {
		reason = " (" + f.Reason + ")"
	}
	return fmt.Sprintf("%s %s failed on the first boot%s, passed on a second boot (log: %s)",
		shortPkg(f.Key.Pkg), f.Key.Test, reason, f.TestLog)
}

// failedTopLevel returns the top-level tests with a failing test or subtest, in order.
func failedTopLevel(r kernelRun) []string {
	var names []string
	for _, t := range r.Results {
		if t.Outcome != vm.Fail {
			continue
		}
		top, _, _ := strings.Cut(t.Test, "/")
		if !slices.Contains(names, top) {
			names = append(names, top)
		}
	}
	return names
}

// retryFailures boots a kernel again (boot, with a -test.run pattern) running only the tests
// that failed on its first boot, when they are few and nothing else went wrong. Two noisy
// emulated vCPUs make timing-sensitive lab tests fail now and then; a test that passes on
// the second boot is reported as flaky, one that fails again fails the run.
func retryFailures(enabled bool, work string, r kernelRun, boot func(run string) kernelRun) kernelRun {
	failed := failedTopLevel(r)
	if !enabled || len(failed) == 0 || len(failed) > maxFlakeTests || len(r.Problems) > 0 || r.count(vm.Unfinished) > 0 {
		return r
	}
	series := r.Kernel.Series
	firstLog := filepath.Join(work, "tests-"+series+"-failed.log")
	if err := os.Rename(r.guestLog, firstLog); err != nil {
		firstLog = fmt.Sprintf("%s (not kept: %v)", r.guestLog, err)
	}
	_ = os.Rename(r.consoleLog, filepath.Join(work, "console-"+series+"-failed.log"))

	again := boot(runPattern(failed))
	r.Elapsed += again.Elapsed
	if again.crash != nil || len(again.Problems) > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("second boot for the failed tests did not run clean: %s", againTrouble(again)))
		return r
	}
	for i, t := range r.Results {
		if t.Outcome != vm.Fail {
			continue
		}
		k := testKey{t.Package, t.Test}
		second, ok := again.result(k)
		switch {
		case !ok:
			r.Results[i].Output += "\n(not run on the second boot)"
		case second.Outcome == vm.Pass:
			r.Flakes = append(r.Flakes, flake{Key: k, Reason: t.Reason(), Output: t.Output, TestLog: firstLog})
			r.Results[i] = second
		default:
			r.Results[i].Output += fmt.Sprintf("\n(second boot: %s)\n%s", second.Outcome, second.Output)
		}
	}
	return r
}

// runPattern matches exactly the named top-level tests (and so all their subtests).
func runPattern(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = regexp.QuoteMeta(n)
	}
	return "^(" + strings.Join(quoted, "|") + ")$"
}

func againTrouble(r kernelRun) string {
	if r.crash != nil {
		return r.crash.String()
	}
	return strings.Join(r.Problems, "; ")
}

func (r kernelRun) flaky(k testKey) bool {
	return slices.ContainsFunc(r.Flakes, func(f flake) bool { return f.Key == k })
}
