package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/nettune/nettune/tools/kernelmatrix/vm"
)

func sampleMatrix() matrix {
	lab := modulePath + "internal/lab"
	bpf := modulePath + "bpf"
	return matrix{
		Builds: []testBinary{{goPkg: goPkg{ImportPath: lab}, Path: "/w/lab.test"}},
		Runs: []kernelRun{
			{Kernel: kernel{kernelPkg: kernelPkg{Series: "5.10", Version: "5.10.262-1"}, Load: []string{"veth"}},
				Release: "5.10.0-46-amd64", Mode: "tcg",
				Results: []vm.TestResult{
					{Package: lab, Test: "TestVethPing", Outcome: vm.Pass},
					{Package: bpf, Test: "TestTCX", Outcome: vm.Skip, Output: "    tcx_test.go:12: tcx not supported (requires >= v6.6)\n"},
				}},
			{Kernel: kernel{kernelPkg: kernelPkg{Series: "7", Version: "7.3.4-1"}, Builtin: []string{"sch_fq_codel"}},
				Release: "7.3.4+deb13-amd64", Mode: "tcg",
				Results: []vm.TestResult{
					{Package: lab, Test: "TestVethPing", Outcome: vm.Pass},
					{Package: bpf, Test: "TestTCX", Outcome: vm.Pass},
				}},
		},
	}
}

func TestReportPassesWithSkips(t *testing.T) {
	m := sampleMatrix()
	if m.failed() {
		t.Fatal("skips alone must not fail the run")
	}
	var b bytes.Buffer
	m.writeText(&b)
	for _, want := range []string{"5.10: SKIP bpf TestTCX: tcx not supported (requires >= v6.6)", "internal/lab TestVethPing", "5.10: loaded veth"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, b.String())
		}
	}
	md := m.markdown()
	for _, want := range []string{"| bpf `TestTCX` | skip | pass |", "| 5.10 | 5.10.0-46-amd64 | 5.10.262-1 | tcg |", "- 7: none / sch_fq_codel / none"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestReportFailures(t *testing.T) {
	for name, change := range map[string]func(*matrix){
		"failed test":     func(m *matrix) { m.Runs[1].Results[1].Outcome = vm.Fail },
		"unfinished test": func(m *matrix) { m.Runs[0].Results[0].Outcome = vm.Unfinished },
		"vm problem":      func(m *matrix) { m.Runs[0].Problems = []string{"VM timed out"} },
		"build failure":   func(m *matrix) { m.Builds[0].BuildErr = "undefined: x" },
		"kernel missing":  func(m *matrix) { m.Prepare = []string{"6.1: PROBLEM no package"} },
	} {
		m := sampleMatrix()
		change(&m)
		if !m.failed() {
			t.Errorf("%s: run not failed", name)
		}
	}
}

func TestSpliceResults(t *testing.T) {
	doc := "# Kernel matrix\n\nHow it works.\n\n" + docBegin + "\nold table\n" + docEnd + "\n\n## After\n"
	got := spliceResults(doc, "new table\n")
	if !strings.Contains(got, "How it works.") || !strings.Contains(got, "## After") ||
		!strings.Contains(got, "new table") || strings.Contains(got, "old table") {
		t.Errorf("splice:\n%s", got)
	}
	if again := spliceResults(got, "new table\n"); again != got {
		t.Errorf("splicing the same results twice changed the document:\n%s", again)
	}
	fresh := spliceResults("# Title", "rows\n")
	if !strings.HasPrefix(fresh, "# Title\n\n"+docBegin) || !strings.HasSuffix(fresh, docEnd+"\n") {
		t.Errorf("append to a document without markers:\n%s", fresh)
	}
}
