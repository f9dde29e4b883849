package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nettune/nettune/tools/kernelmatrix/vm"
)

const netdevPkg = modulePath + "collect/netdev"

func result(test string, o vm.Outcome, output string) vm.TestResult {
	return vm.TestResult{Package: netdevPkg, Test: test, Outcome: o, Output: output}
}

// firstBoot is a finished boot of 7 with one failing subtest (so its parent fails too).
func firstBoot(t *testing.T, work string) kernelRun {
	r := kernelRun{
		Kernel: kernel{kernelPkg: kernelPkg{Series: "7"}},
		Results: []vm.TestResult{
			result("TestLinksVeth", vm.Pass, ""),
			result("TestLinksMqAndClsact", vm.Fail, "reader_test.go:254: mq root packets 395, children sum 396\n"),
			result("TestQdisc", vm.Fail, ""),
			result("TestQdisc/tbf", vm.Fail, "reader_test.go:300: tbf drops 0\n"),
			result("TestQdisc/htb", vm.Pass, ""),
		},
		consoleLog: filepath.Join(work, "console-7.log"),
		guestLog:   filepath.Join(work, "tests-7.log"),
	}
	for _, p := range []string{r.consoleLog, r.guestLog} {
		if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// secondBoot records the -test.run pattern it was given and returns results.
func secondBoot(pattern *string, results ...vm.TestResult) func(string) kernelRun {
	return func(run string) kernelRun {
		*pattern = run
		return kernelRun{Results: results}
	}
}

func TestFlakyTestsPassOnSecondBoot(t *testing.T) {
	work := t.TempDir()
	var pattern string
	r := retryFailures(true, work, firstBoot(t, work), secondBoot(&pattern,
		result("TestLinksMqAndClsact", vm.Pass, ""),
		result("TestQdisc", vm.Pass, ""),
		result("TestQdisc/tbf", vm.Pass, ""),
		result("TestQdisc/htb", vm.Pass, "")))
	if want := "^(TestLinksMqAndClsact|TestQdisc)$"; pattern != want {
		t.Errorf("second boot ran %q, want %q", pattern, want)
	}
	m := matrix{Runs: []kernelRun{r}}
	if m.failed() || r.count(vm.Pass) != 5 {
		t.Fatalf("failed=%v pass=%d; want a passing run with 5 passes", m.failed(), r.count(vm.Pass))
	}
	if len(r.Flakes) != 3 {
		t.Fatalf("flakes = %+v, want the 3 failed results", r.Flakes)
	}
	kept := filepath.Join(work, "tests-7-failed.log")
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("first boot's test log not kept: %v", err)
	}
	var b bytes.Buffer
	m.writeText(&b)
	for _, want := range []string{
		"7: FLAKY collect/netdev TestLinksMqAndClsact failed on the first boot (mq root packets 395, children sum 396), passed on a second boot (log: " + kept + ")",
		"7: FLAKY collect/netdev TestQdisc failed on the first boot, passed",
		"collect/netdev TestQdisc/tbf         FLAKY",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, b.String())
		}
	}
	if md := m.markdown(); !strings.Contains(md, "| collect/netdev `TestLinksMqAndClsact` | flaky |") {
		t.Errorf("markdown lacks the flaky cell:\n%s", md)
	}
}

func TestFailingTwiceFails(t *testing.T) {
	work := t.TempDir()
	var pattern string
	r := retryFailures(true, work, firstBoot(t, work), secondBoot(&pattern,
		result("TestLinksMqAndClsact", vm.Fail, "reader_test.go:254: mq root packets 1, children sum 2\n"),
		result("TestQdisc", vm.Pass, ""),
		result("TestQdisc/tbf", vm.Pass, "")))
	if !(matrix{Runs: []kernelRun{r}}).failed() || r.count(vm.Fail) != 1 || len(r.Flakes) != 2 {
		t.Fatalf("fail=%d flakes=%+v; want the twice-failed test failing and two flakes", r.count(vm.Fail), r.Flakes)
	}
	mq, _ := r.result(testKey{netdevPkg, "TestLinksMqAndClsact"})
	if !strings.Contains(mq.Output, "395") || !strings.Contains(mq.Output, "second boot: fail") {
		t.Errorf("failure output %q lacks either boot", mq.Output)
	}
}

func TestNoSecondBoot(t *testing.T) {
	many := func(t *testing.T, work string) kernelRun {
		r := firstBoot(t, work)
		for _, n := range []string{"TestA", "TestB"} {
			r.Results = append(r.Results, result(n, vm.Fail, ""))
		}
		return r
	}
	problem := func(t *testing.T, work string) kernelRun {
		r := firstBoot(t, work)
		r.Problems = []string{"collect/netdev: test binary did not finish"}
		return r
	}
	for name, c := range map[string]struct {
		enabled bool
		run     func(*testing.T, string) kernelRun
	}{
		"disabled":        {false, firstBoot},
		"too many failed": {true, many},
		"a problem":       {true, problem},
	} {
		t.Run(name, func(t *testing.T) {
			work := t.TempDir()
			r := retryFailures(c.enabled, work, c.run(t, work), func(string) kernelRun {
				t.Fatal("booted again")
				return kernelRun{}
			})
			if !(matrix{Runs: []kernelRun{r}}).failed() || len(r.Flakes) != 0 {
				t.Errorf("failed=false or flakes %+v", r.Flakes)
			}
		})
	}
}

func TestSecondBootCrashIsAProblem(t *testing.T) {
	work := t.TempDir()
	r := retryFailures(true, work, firstBoot(t, work), func(string) kernelRun { return crashedRun() })
	if len(r.Problems) != 1 || !strings.HasPrefix(r.Problems[0], "second boot for the failed tests did not run clean: guest kernel crash") {
		t.Errorf("problems = %q", r.Problems)
	}
	if r.count(vm.Fail) != 3 {
		t.Errorf("fail = %d, want the first boot's 3", r.count(vm.Fail))
	}
}
