package nft

import (
	"encoding/json"
	"github.com/nettune/nettune/internal/golden"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/nldump"
)

func load(t testing.TB, name string) recording {
	t.Helper()
	b, err := os.ReadFile(fixture(name, ".json"))
	if err != nil {
		t.Fatal(err)
	}
	var r recording
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRecordedRulesets reads the rulesets recorded from real nft and iptables-nft (go test
// -record, as root, records them again) and compares what the reader made of them with the
// golden files: chains with their hooks and policies, rules as nft would print them, with
// handles, counters, jumps and whether they drop.
func TestRecordedRulesets(t *testing.T) {
	if *record {
		recordRulesets(t)
	}
	for _, name := range rulesets {
		t.Run(name, func(t *testing.T) {
			fw, err := ReadOnce(load(t, name).opener)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(fw, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, fixture(name, ".golden.json"), append(got, '\n'))
		})
	}
}

// FuzzRead: whatever the kernel (or a recording) answers, the reader returns a ruleset or an
// error, and never panics. Each input replaces one answer of a recorded dump.
func FuzzRead(f *testing.F) {
	rec := load(f, "inet-filter.nft")
	for i, d := range rec {
		for j, a := range d.Answers {
			f.Add(uint8(i), uint8(j), a)
		}
	}
	f.Fuzz(func(t *testing.T, dumpIndex, answerIndex uint8, answer []byte) {
		r := slices.Clone(rec)
		d := &r[int(dumpIndex)%len(r)]
		if len(d.Answers) == 0 {
			return
		}
		d.Answers = slices.Clone(d.Answers)
		d.Answers[int(answerIndex)%len(d.Answers)] = answer
		fw, err := ReadOnce(r.opener)
		if err == nil && fw == nil {
			t.Fatal("no ruleset and no error")
		}
	})
}

// failing answers every dump with one error.
type failing struct{ err error }

func (f failing) Dump(uint16, []byte, func([]byte) error) (bool, error) { return false, f.err }
func (failing) Close() error                                            { return nil }

func TestReadFailures(t *testing.T) {
	for _, tc := range []struct {
		name       string
		open       nldump.Opener
		unreadable string // "" and nil ruleset: no nf_tables
		err        bool
	}{
		{"not root", func(int) (nldump.Dumper, error) { return failing{unix.EPERM}, nil }, "needs CAP_NET_ADMIN", false},
		{"no nf_tables", func(int) (nldump.Dumper, error) { return failing{unix.EOPNOTSUPP}, nil }, "", false},
		{"no nfnetlink", func(int) (nldump.Dumper, error) { return nil, unix.EPROTONOSUPPORT }, "", false},
		{"another failure", func(int) (nldump.Dumper, error) { return failing{unix.ENOBUFS}, nil }, "no buffer space available", true},
	} {
		fw, err := ReadOnce(tc.open)
		if (err != nil) != tc.err {
			t.Errorf("%s: err %v", tc.name, err)
		}
		switch {
		case tc.unreadable == "" && fw != nil:
			t.Errorf("%s: ruleset %+v, want none", tc.name, fw)
		case tc.unreadable != "" && (fw == nil || !strings.Contains(fw.Unreadable, tc.unreadable)):
			t.Errorf("%s: ruleset %+v, want unreadable %q", tc.name, fw, tc.unreadable)
		}
	}
}
