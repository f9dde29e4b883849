package nft

import (
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/internal/nldump"
)

var record = flag.Bool("record", false, "record the rulesets of testdata again from the lab (root, nft and iptables-nft)")

// dump is one recorded netlink dump: the request and the payloads of its answers.
type dump struct {
	Type    uint16   `json:"type"`
	Request []byte   `json:"request"`
	Answers [][]byte `json:"answers"`
}

// recording answers dumps from a recording.
type recording []dump

func (r recording) Dump(typ uint16, body []byte, fn func([]byte) error) (bool, error) {
	for _, d := range r {
		if d.Type == typ && string(d.Request) == string(body) {
			for _, a := range d.Answers {
				if err := fn(a); err != nil {
					return false, err
				}
			}
			return false, nil
		}
	}
	return false, os.ErrNotExist
}

func (recording) Close() error { return nil }

func (r recording) opener(int) (nldump.Dumper, error) { return r, nil }

// recorder passes dumps to a live socket and keeps them.
type recorder struct {
	d    nldump.Dumper
	kept *recording
}

func (r recorder) Dump(typ uint16, body []byte, fn func([]byte) error) (bool, error) {
	d := dump{Type: typ, Request: append([]byte(nil), body...)}
	intr, err := r.d.Dump(typ, body, func(b []byte) error {
		d.Answers = append(d.Answers, append([]byte(nil), b...))
		return fn(b)
	})
	*r.kept = append(*r.kept, d)
	return intr, err
}

func (r recorder) Close() error { return r.d.Close() }

// rulesets are the recorded rulesets of testdata: an nft file, or a script of iptables-nft
// commands.
var rulesets = []string{"inet-filter.nft", "iptables-nft.sh"}

// recordRulesets loads each ruleset into a lab namespace with the real tools, reads it back
// through netlink and keeps the answers (testdata/NAME.json), with nft's own listing next to
// them for a person to compare (testdata/NAME.list).
func recordRulesets(t *testing.T) {
	for _, name := range rulesets {
		ns := lab.NewNS(t, "nftrec")
		src := filepath.Join("testdata", name)
		ns.Do(t, func() error {
			var cmds [][]string
			if strings.HasSuffix(name, ".nft") {
				cmds = [][]string{{"nft", "-f", src}}
			} else {
				b, err := os.ReadFile(src)
				if err != nil {
					return err
				}
				for _, line := range strings.Split(string(b), "\n") {
					if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
						cmds = append(cmds, f)
					}
				}
			}
			for _, c := range cmds {
				// the child starts on this thread, inside the namespace
				if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
					t.Skipf("%s: %v: %s", strings.Join(c, " "), err, out)
				}
			}
			var kept recording
			if _, err := ReadOnce(func(proto int) (nldump.Dumper, error) {
				d, err := nldump.OpenDumper(proto)
				return recorder{d: d, kept: &kept}, err
			}); err != nil {
				return err
			}
			b, err := json.MarshalIndent(kept, "", "  ")
			if err != nil {
				return err
			}
			if err := os.WriteFile(fixture(name, ".json"), append(b, '\n'), 0o644); err != nil {
				return err
			}
			list, err := exec.Command("nft", "--handle", "list", "ruleset").Output()
			if err != nil {
				return err
			}
			return os.WriteFile(fixture(name, ".list"), list, 0o644)
		})
	}
}

func fixture(name, ext string) string {
	return filepath.Join("testdata", strings.TrimSuffix(name, filepath.Ext(name))+ext)
}
