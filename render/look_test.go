package render

import (
	"bytes"
	"fmt"
	"github.com/nettune/nettune/internal/golden"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nettune/nettune/pipeline"
)

// The table as a terminal of 80 and of 160 columns shows it, with and without colour, and
// with --all: golden files (go test ./render -update).
func TestTableLooks(t *testing.T) {
	cases := map[string]func() *pipeline.Result{"loss": lossResult, "clean": cleanResult,
		"recorded": func() *pipeline.Result { return recordedResult(t) }}
	for name, res := range cases {
		for _, width := range []int{80, 160} {
			for _, color := range []bool{false, true} {
				look := Look{Width: width, Color: color}
				file := fmt.Sprintf("look/%s_%d", name, width)
				if color {
					file += "_color"
				}
				var b bytes.Buffer
				if err := TableLook(&b, res(), look); err != nil {
					t.Fatal(err)
				}
				golden.Check(t, "testdata/"+file+".txt", b.Bytes())
				if !color {
					checkWidth(t, file, b.String(), width)
				} else if !strings.Contains(b.String(), "\033[") {
					t.Errorf("%s: no colour", file)
				}
			}
		}
	}
	var b bytes.Buffer
	if err := TableLook(&b, recordedResult(t), Look{Width: 80, All: true}); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/look/recorded_80_all.txt", b.Bytes())
	b.Reset()
	if err := Watch(&b, recordedResult(t), Look{Width: 80}); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/look/watch_recorded_80.txt", b.Bytes())
}

// checkWidth: lines fit the width unless one word (a command, a path, a number with its
// unit) is longer than the room; wrapping never splits a word.
func checkWidth(t *testing.T, name, out string, width int) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if utf8.RuneCountInString(line) <= width {
			continue
		}
		// Lines the table does not wrap: commands to copy.
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "run:") || strings.HasPrefix(trim, "Change:") || strings.HasPrefix(trim, "`") {
			continue
		}
		words := strings.Fields(line)
		longest := 0
		for _, w := range words {
			longest = max(longest, utf8.RuneCountInString(w))
		}
		if longest < width-12 {
			t.Errorf("%s: line of %d columns at width %d:\n%s", name, utf8.RuneCountInString(line), width, line)
		}
	}
}

func TestWrapNeverSplitsAWord(t *testing.T) {
	got := wrap("    why:  ", "          ", "the kernel doubles it, so 8,388,608 is the most it gets without raising rmem_max", 40)
	want := "    why:  the kernel doubles it, so\n          8,388,608 is the most it gets\n          without raising rmem_max"
	if got != want {
		t.Errorf("wrap:\n%s\nwant:\n%s", got, want)
	}
	if got := wrap("- ", "  ", "short", 0); got != "- short" {
		t.Errorf("width 0 wraps: %q", got)
	}
}

// Every command's table at 80 and 160 columns, with and without colour.
func TestCommandLooks(t *testing.T) {
	for _, c := range []struct {
		name  string
		write func(*bytes.Buffer, Look) error
	}{
		{"apply_dryrun", func(b *bytes.Buffer, l Look) error { return ApplyTable(b, applySteps(true), lossResult().Report, l) }},
		{"apply", func(b *bytes.Buffer, l Look) error { return ApplyTable(b, applySteps(false), lossResult().Report, l) }},
		{"rollback", func(b *bytes.Buffer, l Look) error { return RollbackTable(b, rollbackSteps(), l) }},
		{"rollback_gone", func(b *bytes.Buffer, l Look) error { return RollbackTable(b, rollbackGone(), l) }},
		{"apply_node", func(b *bytes.Buffer, l Look) error { return ApplyNodeTable(b, nodeSteps(), twoLossyNamespaces(), l) }},
		{"status", func(b *bytes.Buffer, l Look) error { return StatusTable(b, status(), l) }},
		{"auto", func(b *bytes.Buffer, l Look) error { return AutoTable(b, autoRun(), l) }},
		{"check_degraded", func(b *bytes.Buffer, l Look) error { return CheckTable(b, features(false), CheckDegraded, l) }},
		{"drops", func(b *bytes.Buffer, l Look) error {
			return Drops(b, FormatTable, dropFrame(), DropsOptions{Top: 25, Look: l})
		}},
	} {
		for _, width := range []int{80, 160} {
			for _, color := range []bool{false, true} {
				file := fmt.Sprintf("look/%s_%d", c.name, width)
				if color {
					file += "_color"
				}
				var b bytes.Buffer
				if err := c.write(&b, Look{Width: width, Color: color}); err != nil {
					t.Fatal(err)
				}
				golden.Check(t, "testdata/"+file+".txt", b.Bytes())
				if !color {
					checkWidth(t, file, b.String(), width)
				}
			}
		}
	}
}
