// Package configs holds no code: its tests check the shipped systemd units.
package configs

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nettune/nettune/internal/lab"
)

var services = []string{"nettune.service", "nettune-serve.service", "nettune-restore.service"}

// TestUnitsSecurity: `systemd-analyze security` rates each service at most 5.0 ("OK").
func TestUnitsSecurity(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed")
	}
	exposure := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)
	for _, u := range services {
		// --threshold=50: exit non-zero above 5.0.
		out, err := exec.Command("systemd-analyze", "security", "--offline=true", "--threshold=50", u).CombinedOutput()
		m := exposure.FindSubmatch(out)
		if err != nil || m == nil {
			t.Errorf("%s: %v\n%s", u, err, out)
			continue
		}
		if v, _ := strconv.ParseFloat(string(m[1]), 64); v > 5.0 {
			t.Errorf("%s: exposure %.1f > 5.0", u, v)
		}
		t.Logf("%s: exposure %s", u, m[1])
	}
}

// TestUnitsVerify installs nettune (make install into a prefix of the test's own, so the units'
// ExecStart and man: links resolve) and runs `systemd-analyze verify` on the installed units.
func TestUnitsVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nettune and runs make install")
	}
	for _, tool := range []string{"systemd-analyze", "make", "man"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	tmp := t.TempDir()
	prefix := filepath.Join(tmp, "prefix")
	cmd := exec.Command("make", "-C", "..", "install", "PREFIX="+prefix, "BIN="+filepath.Join(tmp, "nettune"), "GEN="+filepath.Join(tmp, "gen"))
	cmd.Env = append(os.Environ(), "MAKEFLAGS=", "MFLAGS=", "MAKELEVEL=", "SUDO_USER=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	unitDir := filepath.Join(prefix, "lib/systemd/system")
	args := []string{"verify"}
	for _, u := range append(services, "nettune.timer") {
		args = append(args, filepath.Join(unitDir, u))
	}
	verify := exec.Command("systemd-analyze", args...)
	// man:nettune-*(1) links are checked with man(1).
	verify.Env = append(os.Environ(), "MANPATH="+filepath.Join(prefix, "share/man"))
	if out, err := verify.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// unit is the [Service] section of a unit file: key → values in order.
type unit map[string][]string

func readUnit(t *testing.T, name string) unit {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u, section := unit{}, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#':
		case line[0] == '[':
			section = line
		case section == "[Service]":
			k, v, _ := strings.Cut(line, "=")
			u[k] = append(u[k], v)
		}
	}
	return u
}

// sandboxed is the unit's command line run as systemd would give it its capabilities: root with
// the unit's CapabilityBoundingSet (minus drop) and no new privileges, inside the test's
// namespace (`ip netns exec` also mounts that namespace's sysfs). The unit's other sandboxing
// (seccomp filter, read-only file systems) needs systemd as PID 1: it is checked by
// systemd-analyze above. args replaces the unit's arguments when not nil.
func sandboxed(t *testing.T, u unit, ns *lab.NS, bin, drop string, args []string, extra ...string) *exec.Cmd {
	t.Helper()
	if u["NoNewPrivileges"][0] != "yes" {
		t.Fatal("NoNewPrivileges is not yes")
	}
	var caps []string
	for _, c := range strings.Fields(u["CapabilityBoundingSet"][0]) {
		if c != drop {
			caps = append(caps, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
		}
	}
	execStart := strings.Fields(u["ExecStart"][0])
	if execStart[0] != "/usr/local/bin/nettune" {
		t.Fatalf("ExecStart runs %s", execStart[0])
	}
	if args == nil {
		args = execStart[1:]
	}
	ip := []string{"netns", "exec", ns.Name, "setpriv", "--bounding-set=-all," + strings.Join(caps, ","),
		"--inh-caps=-all", "--no-new-privs", bin}
	return exec.Command("ip", append(append(ip, args...), extra...)...)
}

func needSandboxTools(t *testing.T) {
	lab.RequireRoot(t)
	for _, tool := range []string{"ip", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

func buildNettune(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		// The kernel matrix's guests carry test binaries, not a toolchain.
		t.Skip("no go on PATH to build nettune with (make test puts its Go first on PATH)")
	}
	bin := filepath.Join(t.TempDir(), "nettune")
	cmd := exec.Command(goTool, "build", "-o", bin, "./cmd/nettune")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestRemediationUnitCapabilities runs nettune.service's command with exactly the unit's
// capabilities: two auto runs (baseline, then analysis) succeed, and a rollback through the
// journal writes a sysctl (as root, no capability) and a txqueuelen (CAP_NET_ADMIN) — which
// fails without CAP_NET_ADMIN, so the unit cannot drop it. Another namespace (config `netns:`)
// needs CAP_SYS_ADMIN too, as docs/apply.md's drop-in adds.
func TestRemediationUnitCapabilities(t *testing.T) {
	needSandboxTools(t)
	u := readUnit(t, "nettune.service")
	bin := buildNettune(t)
	a, b := lab.NewNS(t, "ntua"), lab.NewNS(t, "ntub")
	v := lab.NewVeth(t, a, b, lab.VethOpts{})
	state := filepath.Join(t.TempDir(), "state")

	for i := range 2 {
		out, err := sandboxed(t, u, b, bin, "", nil, "--state-dir", state).CombinedOutput()
		if err != nil {
			t.Fatalf("auto run %d: %v\n%s", i+1, err, out)
		}
		t.Logf("auto run %d: %s", i+1, bytes.TrimSpace(out))
	}

	// A config with `netns:` needs the drop-in docs/apply.md shows: CAP_SYS_ADMIN on top.
	for _, c := range []struct {
		caps string
		ok   bool
	}{{"+net_admin", false}, {"+net_admin,+sys_admin", true}} {
		out, err := exec.Command("setpriv", "--bounding-set=-all,"+c.caps, "--inh-caps=-all", "--no-new-privs",
			bin, "apply", "--auto", "--netns", b.Name, "--state-dir", filepath.Join(t.TempDir(), "state")).CombinedOutput()
		if (err == nil) != c.ok {
			t.Errorf("apply --auto --netns with %s: %v, want success %v\n%s", c.caps, err, c.ok, out)
		}
	}

	h := b.Handle(t)
	readBack := func() (somaxconn int, txqlen int) {
		b.Do(t, func() error {
			v, err := os.ReadFile("/proc/sys/net/core/somaxconn")
			somaxconn, _ = strconv.Atoi(strings.TrimSpace(string(v)))
			return err
		})
		link, err := h.LinkByName(v.BName)
		if err != nil {
			t.Fatal(err)
		}
		return somaxconn, link.Attrs().TxQLen
	}
	origSomax, origTxq := readBack()
	rollback := func(drop string) ([]byte, error) {
		// A fresh journal for each try, saying nettune doubled both knobs: what it "wrote"
		// is set first, so rollback sees no drift.
		dir := filepath.Join(t.TempDir(), "state")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		link, err := h.LinkByName(v.BName)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetTxQLen(link, 2*origTxq); err != nil {
			t.Fatal(err)
		}
		b.Do(t, func() error {
			return os.WriteFile("/proc/sys/net/core/somaxconn", []byte(strconv.Itoa(2*origSomax)), 0o644)
		})
		now := time.Now().UTC().Format(time.RFC3339Nano)
		var journal strings.Builder
		for i, k := range []struct {
			knob string
			old  int
		}{{"sysctl:net.core.somaxconn", origSomax}, {"txqueuelen:" + v.BName, origTxq}} {
			fmt.Fprintf(&journal, `{"apply":"20260301T120000Z-3fa2c1","seq":%d,"op":"set","knob":%q,"old":"%d","new":"%d","got":"%d","reason":"test","time":%q,"state":"done"}`+"\n",
				i+1, k.knob, k.old, 2*k.old, 2*k.old, now)
		}
		if err := os.WriteFile(filepath.Join(dir, "journal.jsonl"), []byte(journal.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		return sandboxed(t, u, b, bin, drop, []string{"rollback"}, "--state-dir", dir).CombinedOutput()
	}
	if out, err := rollback(""); err != nil {
		t.Fatalf("rollback with the unit's capabilities: %v\n%s", err, out)
	}
	if somax, txq := readBack(); somax != origSomax || txq != origTxq {
		t.Errorf("after rollback somaxconn %d, txqueuelen %d; want %d and %d", somax, txq, origSomax, origTxq)
	}
	if out, err := rollback("CAP_NET_ADMIN"); err == nil {
		t.Errorf("rollback of a txqueuelen without CAP_NET_ADMIN succeeded: the unit could drop it\n%s", out)
	}
}

// TestServeUnitCapabilities runs nettune-serve.service's command with exactly the unit's
// capabilities in a namespace with a veth: it attaches its probes (mode counters+bpf, no
// permission errors) and stops cleanly on SIGTERM.
func TestServeUnitCapabilities(t *testing.T) {
	needSandboxTools(t)
	lab.Global(t) // the drop tracer is host-wide
	u := readUnit(t, "nettune-serve.service")
	bin := buildNettune(t)
	a, b := lab.NewNS(t, "ntsa"), lab.NewNS(t, "ntsb")
	lab.NewVeth(t, a, b, lab.VethOpts{})

	cmd := sandboxed(t, u, b, bin, "", nil, "--listen", "127.0.0.1:9617", "--interval", "1s", "--xdp", "off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for !strings.Contains(stderr.String(), " on http://") && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // a couple of intervals
	// ip netns exec execs setpriv, which execs nettune: the pid is nettune's.
	_ = cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	log := stderr.String()
	if err != nil {
		t.Errorf("serve: %v\n%s", err, log)
	}
	if !strings.Contains(log, "nettune serve: counters+bpf on http://") {
		t.Errorf("serve did not attach its probes:\n%s", log)
	}
	for _, bad := range []string{"not permitted", "permission denied"} {
		if strings.Contains(log, bad) {
			t.Errorf("serve reports %q:\n%s", bad, log)
		}
	}
}
