package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/knob/live"
)

// TestUsageErrorsAreTyped: every bad command line exits 2, by the error's type; an error that
// merely reads like cobra's (the kernel's "invalid argument") does not.
func TestUsageErrorsAreTyped(t *testing.T) {
	for _, args := range [][]string{
		{"check", "-o", "bogus"},
		{"drops", "--count", "-1"},
		{"drops", "--top", "-5"},
		{"drops", "--top", "0"},
		{"drops", "--count", "1.5"},
		{"status", "-o", "xml"},
		{"rollback", "-o", "xml"},
		{"apply", "-o", "xml"},
		{"apply", "extra"},
		{"rollback", "a", "b"},
		{"status", "--nosuch"},
		{"completion", "bash", "extra"},
		{"advise", "--xdp", "turbo"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := run(t, args...)
			if code != ExitUsage || stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and no output", code, stdout, stderr)
			}
		})
	}
	for _, err := range []error{
		errors.New(`write net.ipv4.tcp_rmem="0 131072 6291456": invalid argument`),
		fmt.Errorf("restore: %w", errors.New("unknown command")),
	} {
		if code := ExitCode(err, &strings.Builder{}); code != ExitInternal {
			t.Errorf("%q: exit %d, want %d (no matching of error text)", err, code, ExitInternal)
		}
	}
	if code, stdout, _ := run(t); code != ExitOK || !strings.Contains(stdout, "Usage:") {
		t.Errorf("no arguments: exit %d, want help\n%s", code, stdout)
	}
}

func TestConfigNumbers(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		env        [2]string
		want       string
	}{
		{"NaN step from the environment", "", [2]string{"NETTUNE_POLICY_STEP", "NaN"}, "policy.step"},
		{"NaN ratio from the environment", "", [2]string{"NETTUNE_POLICY_THRESHOLDS_CRITICAL_RATIO", "NaN"}, "critical_ratio"},
		{"Inf ratio from the environment", "", [2]string{"NETTUNE_POLICY_THRESHOLDS_MIN_RATE", "+Inf"}, "min_rate"},
		{"fraction of an integer from the environment", "", [2]string{"NETTUNE_APPLY_HYSTERESIS", "2.5"}, "hysteresis"},
		{"NaN in the file", "policy:\n  thresholds:\n    skew_factor: .nan\n", [2]string{}, "skew_factor"},
		{"Inf in the file", "policy:\n  step: .inf\n", [2]string{}, "policy.step"},
		{"-Inf in the file", "policy:\n  thresholds:\n    min_rate: -.inf\n", [2]string{}, "min_rate"},
		{"fraction of a cap", "policy:\n  caps:\n    rmem_max: 1.5\n", [2]string{}, "caps.rmem_max"},
		{"cap beyond int64", "policy:\n  caps:\n    rmem_max: 1e30\n", [2]string{}, "caps.rmem_max"},
		{"negative float", "apply:\n  revert_below: -0.5\n", [2]string{}, "revert_below"},
		{"negative duration", "apply:\n  lock_timeout: -1s\n", [2]string{}, "lock_timeout"},
		{"duration without unit", "apply:\n  cooldown: 3600\n", [2]string{}, "cooldown"},
		{"boolean for a duration", "interval: true\n", [2]string{}, "interval"},
		{"boolean for a number", "apply:\n  hysteresis: true\n", [2]string{}, "hysteresis"},
		{"knob allowed as a string", "policy:\n  knobs:\n    rps: \"no\"\n", [2]string{}, "policy.knobs"},
		{"bad interface name", "interfaces: [eth0, \"a/b\"]\n", [2]string{}, "interfaces"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env[0] != "" {
				t.Setenv(tc.env[0], tc.env[1])
			}
			file := ""
			if tc.body != "" {
				file = writeConfig(t, tc.body)
			}
			_, err := loadConfig(file, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to name %q", err, tc.want)
			}
		})
	}
	c, err := loadConfig(writeConfig(t, "apply:\n  lock_timeout: 0s\n  cooldown: 0s\npolicy:\n  caps:\n    rmem_max: 1e6\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.lockTimeout() >= 0 || c.Apply.Cooldown != 0 || c.Policy.Caps.RmemMax != 1_000_000 {
		t.Errorf("lock timeout %s (want no wait), cooldown %s, rmem_max cap %d", c.lockTimeout(), c.Apply.Cooldown, c.Policy.Caps.RmemMax)
	}
}

// documentedKnobsExample is the policy.knobs example of configs/nettune.yaml.
func documentedKnobsExample(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../../../configs/nettune.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, ex, ok := strings.Cut(string(b), "# Example: ")
	if !ok {
		t.Fatal("configs/nettune.yaml has no policy.knobs example")
	}
	ex, _, _ = strings.Cut(ex, "\n")
	var m map[string]bool
	if err := yaml.Unmarshal([]byte(ex), &m); err != nil || len(m) == 0 {
		t.Fatalf("example %q: %v", ex, err)
	}
	return m
}

// TestKnobKeysLoadEveryTime: knob IDs are keys with dots (viper's key delimiter) and upper-case
// letters (interface names); they load as written, every time.
func TestKnobKeysLoadEveryTime(t *testing.T) {
	want := documentedKnobsExample(t)
	want["ethtool-ring:enP1s0:rx"] = true
	var body strings.Builder
	body.WriteString("policy:\n  knobs:\n")
	for k, v := range want {
		fmt.Fprintf(&body, "    %q: %v\n", k, v)
	}
	file := writeConfig(t, body.String())
	for i := range 1000 {
		c, err := loadConfig(file, nil)
		if err != nil {
			t.Fatalf("load %d: %v", i, err)
		}
		if !reflect.DeepEqual(c.Policy.Knobs, want) {
			t.Fatalf("load %d: knobs %v, want %v", i, c.Policy.Knobs, want)
		}
	}
	c, _ := loadConfig(file, nil)
	if c.Policy.KnobAllowed("sysctl:net.core.rmem_default") || !c.Policy.KnobAllowed("sysctl:net.core.rmem_max") {
		t.Error("the example's knobs do not decide what is allowed")
	}
}

// TestConfigUntrusted: the config decides what root changes; a file another user could have
// written is refused.
func TestConfigUntrusted(t *testing.T) {
	file := writeConfig(t, "interval: 5s\n")
	if err := os.Chmod(file, 0o666); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, "status", "--config", file)
	if code != ExitUsage || !strings.Contains(stderr, "writable by group or others") {
		t.Errorf("config anyone may write: exit %d, stderr %q", code, stderr)
	}
	if os.Geteuid() != 0 {
		return
	}
	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(file, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, "status", "--config", file)
	if code != ExitUsage || !strings.Contains(stderr, "owned by uid 65534") {
		t.Errorf("config of another user: exit %d, stderr %q", code, stderr)
	}
}

func TestInterfacesMerged(t *testing.T) {
	list := strings.Repeat("eth0,", 5000) + "eth1,eth0"
	t.Setenv("NETTUNE_INTERFACES", list)
	c, err := loadConfig("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Interfaces, []string{"eth0", "eth1"}) {
		t.Fatalf("interfaces %v", c.Interfaces)
	}
}

// FuzzConfig: whatever a config file holds, loading it either fails or yields a config whose
// numbers are finite and not negative and that validates.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{"", "policy:\n  step: .nan\n", "policy:\n  caps:\n    rmem_max: 1.5\n",
		"interval: 1e400\n", "apply:\n  lock_timeout: 0s\n", "policy:\n  knobs:\n    \"sysctl:net.core.rmem_default\": false\n",
		"policy:\n  thresholds:\n    critical_ratio: -.inf\n", "interfaces: [a, a]\n"} {
		f.Add(s)
	}
	b, err := os.ReadFile("../../../configs/nettune.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body string) {
		file := filepath.Join(dir, "fuzz.yaml")
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := loadConfig(file, nil)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("loaded but invalid: %v", err)
		}
		var walk func(reflect.Value)
		walk = func(v reflect.Value) {
			switch v.Kind() {
			case reflect.Struct:
				for i := range v.NumField() {
					walk(v.Field(i))
				}
			case reflect.Float32, reflect.Float64:
				if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
					t.Fatalf("loaded %v", f)
				}
			case reflect.Int, reflect.Int64:
				if v.Int() < 0 {
					t.Fatalf("loaded %d", v.Int())
				}
			}
		}
		walk(reflect.ValueOf(c))
	})
}

func TestUnreadableProcRootExitsTwo(t *testing.T) {
	for _, key := range []string{"proc_root", "sys_root"} {
		cfg := writeConfig(t, key+": /nonexistent\n")
		code, stdout, stderr := run(t, "advise", "--no-bpf", "--interval", "100ms", "--config", cfg)
		if code != ExitUsage || strings.Contains(stdout, "no packet loss found") || !strings.Contains(stderr, "/nonexistent") {
			t.Errorf("%s /nonexistent: exit %d, stdout %q, stderr %q; want 2", key, code, stdout, stderr)
		}
	}
}

// journalLine is one journal line as docs/apply.md defines it: the JSON object without its
// closing brace, then ,"sum":"<CRC-32C of that, 8 hex digits>"}.
func journalLine(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	body := b[:len(b)-1]
	return fmt.Sprintf("%s,\"sum\":\"%08x\"}\n", body, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
}

// TestRollbackEINVALExitsThree: the kernel refuses the second restore of a rollback whose
// first succeeded (ipfrag_high_thresh may not go below ipfrag_low_thresh). That is a failed change, exit 3
// with what was already restored, never exit 2 "nothing was changed".
func TestRollbackEINVALExitsThree(t *testing.T) {
	ns := lab.NewNS(t, "einval")
	somaxconn, err := live.Parse("sysctl:net.core.somaxconn", ns.Name, live.DefaultEnv())
	if err != nil {
		t.Fatal(err)
	}
	ipfrag, err := live.Parse("sysctl:net.ipv4.ipfrag_high_thresh", ns.Name, live.DefaultEnv())
	if err != nil {
		t.Fatal(err)
	}
	high, err := ipfrag.Read()
	if err != nil {
		t.Fatal(err)
	}
	if err := somaxconn.Write("8192"); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	entry := func(id, knob, old, new string) map[string]any {
		return map[string]any{"apply": id, "seq": 1, "op": "set", "knob": knob, "netns": ns.Name, "old": old,
			"new": new, "got": new, "reason": "test", "time": at, "state": "done"}
	}
	dir := t.TempDir()
	journal := journalLine(t, map[string]any{"journal": "nettune", "version": 2, "created": at}) +
		journalLine(t, entry("20260301T120000Z-0a0b0c", "sysctl:net.ipv4.ipfrag_high_thresh", "1", high)) +
		journalLine(t, entry("20260301T130000Z-0a0b0c", "sysctl:net.core.somaxconn", "4096", "8192"))
	if err := os.WriteFile(filepath.Join(dir, "journal.jsonl"), []byte(journal), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "rollback", "--state-dir", dir)
	if code != ExitInternal || !strings.Contains(stderr, "invalid argument") ||
		!strings.Contains(stderr, "already changed by this run") || !strings.Contains(stderr, "net.core.somaxconn") {
		t.Fatalf("exit %d, stderr %q; want 3 naming the restore already done\n%s", code, stderr, stdout)
	}
	if v, _ := somaxconn.Read(); v != "4096" {
		t.Errorf("somaxconn %s, want 4096 restored before the failure", v)
	}
}

// TestNonRootState: without root every state command either works degraded and says why, or
// refuses with exit 2.
func TestNonRootState(t *testing.T) {
	lab.RequireRoot(t)
	base, err := os.MkdirTemp("", "nettune-state-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	state := filepath.Join(base, "state")
	if err := os.Mkdir(state, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{base, state} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := os.WriteFile(filepath.Join(state, "journal.jsonl"),
		[]byte(journalLine(t, map[string]any{"journal": "nettune", "version": 2, "created": at})), 0o600); err != nil {
		t.Fatal(err)
	}

	code, stderr := asNobody(t, "status", "--state-dir", state)
	if code != ExitUsage || !strings.Contains(stderr, "run as root") {
		t.Errorf("status as nobody: exit %d, stderr %q; want 2 and run as root", code, stderr)
	}
	code, stdout, stderr := asNobodyOut(t, "apply", "--dry-run", "--interval", "100ms", "-o", "json", "--state-dir", state)
	var res struct {
		Degraded string `json:"degraded"`
	}
	if code != ExitOK || json.Unmarshal([]byte(stdout), &res) != nil || !strings.Contains(res.Degraded, "needs root") {
		t.Errorf("dry run as nobody: exit %d, stdout %q, stderr %q; want a degraded run saying why", code, stdout, stderr)
	}
	code, stderr = asNobody(t, "serve", "--remediate", "--listen", "127.0.0.1:0")
	if code != ExitUsage || !strings.Contains(stderr, "root") {
		t.Errorf("serve --remediate as nobody: exit %d, stderr %q", code, stderr)
	}
	code, stdout, _ = asNobodyOut(t, "check")
	if code == ExitUsage || code == ExitInternal || strings.Contains(stdout, "clsact") || strings.Contains(stdout, "raw_tracepoint") ||
		!strings.Contains(stdout, "needs root") {
		t.Errorf("check as nobody: exit %d, claims modes it could not load or does not say why:\n%s", code, stdout)
	}
}
