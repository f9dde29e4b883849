package configs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
	"github.com/nettune/nettune/render"
)

// systemdSysctl is what applies sysctl.d at boot.
var systemdSysctl = []string{"/usr/lib/systemd/systemd-sysctl", "/lib/systemd/systemd-sysctl"}

// TestPersistSurvivesReboot: a persisted change survives a simulated reboot and is undone by
// rollback. A lab namespace stands for a host: nettune runs there as PID 1 of a PID namespace
// of its own (unshare), so the namespace is its host's initial one, and the host's networking
// is never touched. `apply --plan --persist` raises somaxconn (a sysctl: nettune's sysctl.d
// file), an RPS mask and txqueuelen (device knobs: restore). The "reboot" puts every value back
// to the original; systemd-sysctl applies the file, and `nettune restore`, run with exactly the
// capabilities of nettune-restore.service, writes the device knobs again. rollback then
// restores every original and removes the file.
func TestPersistSurvivesReboot(t *testing.T) {
	needSandboxTools(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare not installed")
	}
	var sysctlBin string
	for _, p := range systemdSysctl {
		if _, err := os.Stat(p); err == nil {
			sysctlBin = p
		}
	}
	if sysctlBin == "" {
		t.Skip("systemd-sysctl not installed")
	}
	u := readUnit(t, "nettune-restore.service")
	bin := buildNettune(t)
	a, b := lab.NewNS(t, "ntra"), lab.NewNS(t, "ntrb")
	v := lab.NewVeth(t, a, b, lab.VethOpts{})
	dir := t.TempDir()
	state, file := filepath.Join(dir, "state"), filepath.Join(dir, "etc", "sysctl.d", "90-nettune.conf")
	rpsFile := "/sys/class/net/" + v.BName + "/queues/rx-0/rps_cpus"
	knobs := []string{"sysctl:net.core.somaxconn", "rps:" + v.BName + ":rx-0", "txqueuelen:" + v.BName}

	// inB runs argv in B (ip netns exec also mounts B's sysfs) as PID 1 of a new PID namespace
	// with /proc of its own; caps limits the capabilities, as the unit does ("" for all).
	inB := func(caps string, argv ...string) (string, error) {
		args := []string{"netns", "exec", b.Name, "unshare", "--pid", "--fork", "--mount-proc"}
		if caps != "" {
			args = append(args, "setpriv", "--bounding-set=-all,"+caps, "--inh-caps=-all", "--no-new-privs")
		}
		cmd := exec.Command("ip", append(args, argv...)...)
		cmd.Env = append(os.Environ(), "NETTUNE_APPLY_PERSIST_FILE="+file)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	values := func() []string {
		rps, err := inB("", "cat", rpsFile)
		if err != nil {
			t.Fatalf("read %s: %v\n%s", rpsFile, err, rps)
		}
		link, err := b.Handle(t).LinkByName(v.BName)
		if err != nil {
			t.Fatal(err)
		}
		var somaxconn []byte
		b.Do(t, func() error {
			var err error
			somaxconn, err = os.ReadFile("/proc/sys/net/core/somaxconn")
			return err
		})
		return []string{string(bytes.TrimSpace(somaxconn)), strings.TrimSpace(rps), strconv.Itoa(link.Attrs().TxQLen)}
	}
	reboot := func(to []string) {
		b.Do(t, func() error { return os.WriteFile("/proc/sys/net/core/somaxconn", []byte(to[0]), 0o644) })
		if out, err := inB("", "sh", "-c", "echo "+to[1]+" > "+rpsFile); err != nil {
			t.Fatalf("reset rps: %v\n%s", err, out)
		}
		h := b.Handle(t)
		link, err := h.LinkByName(v.BName)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(to[2])
		if err := h.LinkSetTxQLen(link, n); err != nil {
			t.Fatal(err)
		}
	}

	orig := values()
	somax, _ := strconv.Atoi(orig[0])
	txq, _ := strconv.Atoi(orig[2])
	want := []string{strconv.Itoa(2 * somax), "1", strconv.Itoa(2 * txq)}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	var plan bytes.Buffer
	err = render.JSON(&plan, &pipeline.Result{Meta: pipeline.Meta{Host: host}, Report: &policy.Report{Plan: []policy.Action{
		{Knob: knobs[0], Current: orig[0], Proposed: want[0], Scope: model.ScopeNetns, Why: "test"},
		{Knob: knobs[1], Current: orig[1], Proposed: want[1], Scope: model.ScopeDevice, Why: "test"},
		{Knob: knobs[2], Current: orig[2], Proposed: want[2], Scope: model.ScopeDevice, Why: "test"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	planFile := filepath.Join(dir, "plan.json")
	if err := os.WriteFile(planFile, plan.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if out, err := inB("", bin, "rollback", "--state-dir", state); err != nil {
			t.Errorf("cleanup rollback: %v\n%s", err, out)
		}
	})

	out, err := inB("", bin, "apply", "--plan", planFile, "--persist", "--state-dir", state)
	if err != nil || strings.Count(out, "[persist]") != 3 {
		t.Fatalf("apply --plan --persist: %v\n%s", err, out)
	}
	if got := values(); !equal(got, want) {
		t.Fatalf("after apply: %v, want %v\n%s", got, want, out)
	}
	conf, _ := os.ReadFile(file)
	if !strings.HasSuffix(string(conf), "\nnet.core.somaxconn = "+want[0]+"\n") {
		t.Fatalf("%s:\n%s", file, conf)
	}

	reboot(orig)
	if out, err := inB("", sysctlBin, file); err != nil {
		t.Fatalf("systemd-sysctl %s: %v\n%s", file, err, out)
	}
	caps := []string{}
	for _, c := range strings.Fields(u["CapabilityBoundingSet"][0]) {
		caps = append(caps, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	if u["ExecStart"][0] != "/usr/local/bin/nettune restore" {
		t.Fatalf("nettune-restore.service runs %q", u["ExecStart"][0])
	}
	out, err = inB(strings.Join(caps, ","), bin, "restore", "--state-dir", state)
	if err != nil {
		t.Fatalf("restore with the unit's capabilities: %v\n%s", err, out)
	}
	if got := values(); !equal(got, want) {
		t.Fatalf("after the reboot, systemd-sysctl and restore: %v, want %v\n%s", got, want, out)
	}
	t.Logf("restore:\n%s", out)
	if out, err = inB("", bin, "status", "--state-dir", state); err != nil || strings.Count(out, ", at boot ") != 3 {
		t.Errorf("status: %v\n%s", err, out)
	}

	if out, err = inB("", bin, "rollback", "--state-dir", state); err != nil {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	if got := values(); !equal(got, orig) {
		t.Errorf("after rollback: %v, want the originals %v\n%s", got, orig, out)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("%s after rollback: %v", file, err)
	}
}

func equal(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }
