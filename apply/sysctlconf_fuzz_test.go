package apply

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseSysctlConf: the keys of any sysctl.d file are dotted keys of its lines, each one
// a fixed point of the slash-to-dot rule, and each reads back alone from "key = value".
func FuzzParseSysctlConf(f *testing.F) {
	paths, err := filepath.Glob("testdata/conf/*/*/sysctl.d/*.conf")
	if err != nil || len(paths) == 0 {
		f.Fatalf("no sysctl.d fixture: %v", err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("net/ipv4/conf/eth0.100/rp_filter = 1\n-net.core.rmem_max=1\nnet.ipv4.conf.*.rp_filter = 2\n")
	f.Fuzz(func(t *testing.T, s string) {
		keys, err := parseSysctlConf(strings.NewReader(s))
		if err != nil {
			return
		}
		if len(keys) > strings.Count(s, "=") {
			t.Fatalf("%d keys from %d assignments", len(keys), strings.Count(s, "="))
		}
		for _, k := range keys {
			if k == "" || strings.ContainsAny(k, "*?[=\n") || strings.Trim(k, "./") != k || dottedKey(k) != k {
				t.Fatalf("key %q", k)
			}
			// What follows a "-" is kept as systemd-sysctl keeps it ("- x", "--x", "-#x"): such
			// keys name no sysctl, and written back they read as something else.
			if strings.TrimSpace(k) != k || strings.ContainsAny(k[:1], "-#;") {
				continue
			}
			again, err := parseSysctlConf(strings.NewReader(k + " = 1\n"))
			if err != nil || len(again) != 1 || again[0] != k {
				t.Fatalf("key %q reads back as %q, %v", k, again, err)
			}
		}
	})
}
