package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nettune/nettune/internal/lab"
)

// TestMain lets a test re-run this binary as the nettune command (for runs as another user),
// and holds every report a test makes to the invariants of a verdict (policy.Check);
// benchmarks measure what nettune does without it (noChecks).
func TestMain(m *testing.M) {
	checkInvariants = os.Getenv("CLITEST_NO_CHECKS") == "" // a benchmark's nettune measures what users run
	if os.Getenv("CLITEST_RUN_AS_NETTUNE") == "1" {
		err := Run(os.Args[1:], Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
		os.Exit(ExitCode(err, os.Stderr))
	}
	os.Exit(m.Run())
}

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	err := Execute(context.Background(), args, Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	code = ExitCode(err, &errb)
	return code, out.String(), errb.String()
}

func TestBadInputExitsTwo(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("interval: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unknownKey := filepath.Join(t.TempDir(), "unknown.yaml")
	if err := os.WriteFile(unknownKey, []byte("policy:\n  tresholds:\n    min_rate: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"advize"}, "unknown command"},
		{"unknown flag", []string{"advise", "--bogus"}, "unknown flag"},
		{"bad flag value", []string{"advise", "--interval", "soon"}, "interval"},
		{"bad output", []string{"advise", "-o", "xml", "--interval", "100ms"}, "output"},
		{"malformed config", []string{"advise", "--config", bad}, "bad.yaml"},
		{"unknown config key", []string{"advise", "--config", unknownKey}, "tresholds"},
		{"missing config file", []string{"advise", "--config", "/nonexistent/nettune.yaml"}, "nettune.yaml"},
		{"unknown interface", []string{"advise", "--no-bpf", "--interval", "100ms", "--iface", "nosuch0"}, "nosuch0"},
		{"unknown netns", []string{"advise", "--no-bpf", "--interval", "100ms", "--netns", "nettune-nosuch"}, "nettune-nosuch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tc.args...)
			if code != ExitUsage {
				t.Errorf("exit status %d, want %d; stderr: %s", code, ExitUsage, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q does not mention %q", stderr, tc.want)
			}
			if stdout != "" {
				t.Errorf("a rejected run printed a report: %q", stdout)
			}
		})
	}
}

// Every command's -o takes the formats it has, table and json (and prometheus for advise);
// anything else is refused before anything runs, in one line.
func TestBadOutputExitsTwo(t *testing.T) {
	badOutput := filepath.Join(t.TempDir(), "output.yaml")
	if err := os.WriteFile(badOutput, []byte("output: xml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"advise output", []string{"advise", "-o", "xml", "--interval", "100ms"}, `"xml" for "-o, --output" flag: not one of table, json, prometheus, html`},
		{"configured output", []string{"advise", "--interval", "100ms", "--config", badOutput}, `"xml" is not one of table, json, prometheus, html`},
		{"apply output", []string{"apply", "--dry-run", "-o", "text"}, `"text" for "-o, --output" flag: not one of table, json`},
		{"auto output", []string{"apply", "--auto", "-o", "prometheus"}, `"prometheus" for "-o, --output" flag: not one of table, json`},
		{"rollback output", []string{"rollback", "-o", "text"}, `"text" for "-o, --output" flag: not one of table, json`},
		{"status output", []string{"status", "--output", "yaml"}, `"yaml" for "-o, --output" flag: not one of table, json`},
		{"drops output", []string{"drops", "-o", "prometheus"}, `"prometheus" for "-o, --output" flag: not one of table, json`},
		{"check output", []string{"check", "-o", "text"}, `"text" for "-o, --output" flag: not one of table, json`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tc.args...)
			if code != ExitUsage || stdout != "" {
				t.Errorf("exit status %d, want %d; stdout %q", code, ExitUsage, stdout)
			}
			if !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr %q is not one line saying %q", stderr, tc.want)
			}
		})
	}
}

// asNobody runs this test binary as the nettune command under uid/gid 65534 and returns the
// exit status and stderr.
func asNobody(t *testing.T, args ...string) (int, string) {
	code, _, stderr := asNobodyOut(t, args...)
	return code, stderr
}

func asNobodyOut(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	lab.RequireRoot(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "nettune-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "nettune.test")
	copyFile(t, self, bin)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "CLITEST_RUN_AS_NETTUNE=1")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNonRootNeedsRootExitsTwo(t *testing.T) {
	ns := lab.NewNS(t, "nrt")
	code, stderr := asNobody(t, "advise", "--no-bpf", "--interval", "100ms", "--netns", ns.Name)
	if code != ExitUsage || !strings.Contains(stderr, "root") {
		t.Errorf("advise --netns as nobody: exit %d, stderr %q; want 2 and a word about root", code, stderr)
	}
	code, stderr = asNobody(t, "apply", "--state-dir", t.TempDir())
	if code != ExitUsage || !strings.Contains(stderr, "root") {
		t.Errorf("apply as nobody: exit %d, stderr %q; want 2 and a word about root", code, stderr)
	}
}

func TestNonRootAdviseFallsBackToCounters(t *testing.T) {
	code, stdout, stderr := asNobodyOut(t, "advise", "--interval", "200ms", "-o", "json")
	if code != ExitOK && code != ExitLoss {
		t.Fatalf("advise as nobody: exit %d, stderr %q", code, stderr)
	}
	var d struct {
		Mode    string `json:"mode"`
		BPFNote string `json:"bpf_note"`
	}
	if err := json.Unmarshal([]byte(stdout), &d); err != nil {
		t.Fatalf("advise as nobody printed no report: %v\n%s", err, stdout)
	}
	if d.Mode != "counters" || !strings.Contains(d.BPFNote, "root") {
		t.Errorf("mode %q note %q: want counters only, saying probes need root", d.Mode, d.BPFNote)
	}
}

func TestAdviseTextfile(t *testing.T) {
	lab.RequireRoot(t)
	ns := lab.NewNS(t, "txt")
	p := filepath.Join(t.TempDir(), "nettune.prom")
	code, stdout, stderr := run(t, "advise", "--no-bpf", "--interval", "200ms", "--netns", ns.Name, "-o", "json", "--textfile", p)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "# TYPE nettune_") || !strings.HasPrefix(strings.TrimSpace(stdout), "{") {
		t.Errorf("textfile %q, stdout %q", b, stdout)
	}
}

func TestCheckReportsThisKernel(t *testing.T) {
	lab.RequireRoot(t)
	code, stdout, stderr := run(t, "check", "-o", "json")
	var f struct {
		BTF struct {
			OK bool `json:"ok"`
		} `json:"btf"`
		DropReasonCount int `json:"drop_reason_count"`
		DropLocations   struct {
			OK bool `json:"ok"`
		} `json:"drop_locations"`
		TCMode    string `json:"tc_mode"`
		DropsMode string `json:"drops_mode"`
	}
	if err := json.Unmarshal([]byte(stdout), &f); err != nil {
		t.Fatalf("check -o json: %v\n%s%s", err, stdout, stderr)
	}
	// The exit status must agree with what the features say.
	full := f.BTF.OK && f.DropReasonCount > 0
	if (code == ExitOK) != full {
		t.Errorf("exit %d but btf=%v reasons=%d", code, f.BTF.OK, f.DropReasonCount)
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err == nil && !f.BTF.OK {
		t.Error("BTF present but reported missing")
	}
	// Every kernel nettune supports traces drops where it has BTF: with reasons from 5.17,
	// by location before.
	if f.BTF.OK && (!f.DropLocations.OK || f.DropsMode == "none") {
		t.Errorf("btf present but drop locations %v, drops mode %q", f.DropLocations.OK, f.DropsMode)
	}
	code, stdout, _ = run(t, "check")
	t.Logf("check:\n%s", stdout)
	if !strings.Contains(stdout, "mode:") || !strings.Contains(stdout, "drop locations") || (code != ExitOK && code != ExitLoss) {
		t.Errorf("check table: exit %d\n%s", code, stdout)
	}
}

// noChecks turns the invariant check off for one benchmark: they measure nettune as it runs,
// and the check's own account of the drops is not part of that.
func noChecks(b *testing.B) {
	checkInvariants = false
	b.Cleanup(func() { checkInvariants = true })
}
