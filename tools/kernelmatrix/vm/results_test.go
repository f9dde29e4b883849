package vm

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// testdata/guest-6.1.log is an excerpt of a real run's test port on Debian's 6.1 kernel: test
// binaries run with -test.v=test2json, a finished package with a failing subtest, then a
// package cut off mid-test.
func TestGuestLogToResults(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool needed to convert test output: %v", err)
	}
	f, err := os.Open("testdata/guest-6.1.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := ParseGuestLog(f)
	if err != nil {
		t.Fatal(err)
	}
	if g.Release != "6.1.0-56-amd64" || len(g.Packages) != 2 || g.Done {
		t.Fatalf("release %q, %d packages, done %v", g.Release, len(g.Packages), g.Done)
	}
	if p := g.Packages[0]; !p.Finished || p.Exit != 1 {
		t.Errorf("bpf: finished %v exit %d", p.Finished, p.Exit)
	}
	got := map[string]TestResult{}
	for _, p := range g.Packages {
		events, err := Test2JSON(context.Background(), goTool, p.ImportPath, p.Output)
		if err != nil {
			t.Fatal(err)
		}
		res, err := ParseEvents(bytes.NewReader(events))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			got[r.Test] = r
		}
	}
	want := map[string]Outcome{
		"TestDropNoSocket":             Pass,
		"TestQueuesVeth":               Fail,
		"TestQueuesVeth/generic/tcx":   Fail,
		"TestQueuesVeth/native/tcx":    Fail,
		"TestQueuesVeth/native/clsact": Pass,
		"TestServeHTTP":                Skip,
		"TestServePerQueueOptIn":       Unfinished,
	}
	for name, o := range want {
		if got[name].Outcome != o {
			t.Errorf("%s: %q, want %q", name, got[name].Outcome, o)
		}
	}
	if len(got) != len(want) {
		t.Errorf("results %v", got)
	}
	if r := got["TestServeHTTP"].Reason(); r != "promtool not found (apt-get install prometheus)" {
		t.Errorf("skip reason %q", r)
	}
	if r := got["TestQueuesVeth/native/tcx"]; r.Reason() != "tc-ingress counted 0 packets, sent 800" ||
		strings.Contains(r.Output, "--- FAIL") || r.Package != "github.com/nettune/nettune/bpf" {
		t.Errorf("failure %+v, reason %q", r, r.Reason())
	}
}

func TestReasonWithoutOutput(t *testing.T) {
	if r := (TestResult{}).Reason(); r != "" {
		t.Errorf("reason %q", r)
	}
}
