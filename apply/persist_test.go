package apply

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/policy"
)

const (
	rps0 = "rps:eth0:rx-0"   // "0" in the fixture
	irq  = "irq-affinity:41" // "0-1"
)

// persistFixture is the host fixture as a host whose nettune runs in the initial namespace,
// with eth0's MAC address and IRQ 41's line in /proc/interrupts (restore's device check), and
// persistence on.
func persistFixture(t *testing.T) Options {
	t.Helper()
	o := fixture(t)
	o.Persist = true
	proc, sys := o.Env.ProcRoot, o.Env.SysRoot
	for _, d := range []string{"self/ns", "1/ns"} {
		if err := os.MkdirAll(filepath.Join(proc, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("net:[4026531840]", filepath.Join(proc, d, "net")); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(proc, "interrupts"), "           CPU0       CPU1\n"+
		" 41:     120345      98211   PCI-MSIX-0000:00:05.0   1-edge      virtio0-input.0\n")
	write(t, filepath.Join(sys, "class/net/eth0/address"), "52:54:00:12:34:56\n")
	return o
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func persistPathOf(o Options) string { return New(o).persistPath() }

// TestPersistSysctlFile: apply --persist writes the sysctls it set into nettune's own file,
// which is nettune's (a second apply raises the knob again instead of calling it pinned), status
// shows the boot value, and rollback removes the file with the runtime values.
func TestPersistSysctlFile(t *testing.T) {
	lab.RequireRoot(t)
	o := persistFixture(t)
	file := persistPathOf(o)
	res, err := New(o).Apply([]policy.Action{action(backlog, "", "2000"), action(tcpRmem, "", "4096 131072 67108864")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Persist == nil || res.Persist.Action != "written" || len(res.Persist.Keys) != 2 {
		t.Fatalf("persist: %+v", res.Persist)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{persistHeader + "\n", "\nnet.core.netdev_max_backlog = 2000\n", "\nnet.ipv4.tcp_rmem = 4096 131072 67108864\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q:\n%s", file, want, b)
		}
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", st.Mode())
	}
	lines, _ := readJournal(o.StateDir)
	for _, e := range lines {
		if !e.Persist || e.Device != "" {
			t.Errorf("journal entry %+v: want persist, no device (a sysctl)", e)
		}
	}

	// The file is nettune's: the key is not "pinned by the administrator".
	res, err = New(o).Apply([]policy.Action{action(backlog, "", "4000")})
	if err != nil || res.Changed() != 1 {
		t.Fatalf("second apply: %v\n%+v", err, res)
	}
	if b, _ := os.ReadFile(file); !strings.Contains(string(b), "netdev_max_backlog = 4000\n") {
		t.Errorf("file after the second apply:\n%s", b)
	}
	st, err := New(o).Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range st.Knobs {
		if k.Knob == backlog && (k.Original != "1000" || k.Current != "4000" || k.Persisted != "4000" || k.PersistNote != "") {
			t.Errorf("status %+v", k)
		}
	}

	res, err = New(o).Rollback("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) || res.Persist == nil || res.Persist.Action != "removed" {
		t.Errorf("after rollback: %v, %+v", err, res.Persist)
	}
	if read(t, o, backlog, "") != "1000" || read(t, o, tcpRmem, "") != "4096 131072 33554432" {
		t.Error("rollback did not restore the runtime values")
	}
}

// TestPersistRollbackOfOneApply: rolling back the later of two persisted applies leaves the
// earlier one's value in the file.
func TestPersistRollbackOfOneApply(t *testing.T) {
	lab.RequireRoot(t)
	o := persistFixture(t)
	first, err := New(o).Apply([]policy.Action{action(backlog, "", "2000")})
	if err != nil {
		t.Fatal(err)
	}
	o.Now = func() time.Time { return time.Now().Add(time.Second) } // another apply id
	second, err := New(o).Apply([]policy.Action{action(backlog, "", "4000"), action(somaxconn, "", "8192")})
	if err != nil || first.ID == second.ID {
		t.Fatal(err, first.ID, second.ID)
	}
	if _, err := New(o).Rollback(second.ID); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(persistPathOf(o))
	if !strings.HasSuffix(string(b), "\nnet.core.netdev_max_backlog = 2000\n") || strings.Contains(string(b), "somaxconn") {
		t.Errorf("file after rolling back %s:\n%s", second.ID, b)
	}
}

// TestPersistNeverWritesForeignFile: a file of that name that nettune did not write, or one
// edited since, is never written or removed: apply refuses to persist sysctls (device knobs
// still persist), rollback restores the runtime values and leaves the file alone.
func TestPersistNeverWritesForeignFile(t *testing.T) {
	lab.RequireRoot(t)
	for name, content := range map[string]string{
		"foreign": "# the admin's\nnet.core.somaxconn = 1024\n",
		"edited":  "", // written by nettune, then edited
	} {
		t.Run(name, func(t *testing.T) {
			o := persistFixture(t)
			file := persistPathOf(o)
			if content != "" {
				write(t, file, content)
			} else {
				if _, err := New(o).Apply([]policy.Action{action(backlog, "", "2000")}); err != nil {
					t.Fatal(err)
				}
				b, _ := os.ReadFile(file)
				content = string(b) + "net.core.rmem_max = 1\n"
				write(t, file, content)
			}
			res, err := New(o).Apply([]policy.Action{action(somaxconn, "", "8192"), action(rps0, "", "3")})
			if err != nil {
				t.Fatal(err)
			}
			if s := res.Steps[0]; s.Decision != DecideAdvice || !strings.Contains(s.Note, "nettune writes only into a file it created") {
				t.Errorf("sysctl step: %+v", s)
			}
			if s := res.Steps[1]; s.Decision != DecideChange || !s.Persist {
				t.Errorf("rps step: %+v", s)
			}
			if _, err := New(o).Rollback(""); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(file); string(b) != content {
				t.Errorf("nettune changed a file that is not its own:\n%s", b)
			}
			if read(t, o, backlog, "") != "1000" || read(t, o, rps0, "") != "0" {
				t.Error("rollback did not restore the runtime values")
			}
		})
	}
}

// TestPersistRefusesOtherNamespaces: sysctl.d and restore apply in the host's initial namespace
// at boot, so a change in another namespace, or in nettune's own when it is not the host's, is
// refused with a message saying so; host-wide knobs persist from anywhere.
func TestPersistRefusesOtherNamespaces(t *testing.T) {
	o := persistFixture(t)
	res, err := New(o).DryRun([]policy.Action{action(somaxconn, "web", "8192"), action("rps:veth1:rx-0", "web", "3")})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Steps {
		if s.Decision != DecideAdvice || !strings.Contains(s.Note, "cannot persist") || !strings.Contains(s.Note, "of netns web") {
			t.Errorf("%s in netns web: %+v", s.Knob, s)
		}
	}
	// nettune itself in a container's namespace.
	if err := os.Remove(filepath.Join(o.Env.ProcRoot, "self/ns/net")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("net:[4026532999]", filepath.Join(o.Env.ProcRoot, "self/ns/net")); err != nil {
		t.Fatal(err)
	}
	res, err = New(o).DryRun([]policy.Action{action(somaxconn, "", "8192"), action(backlog, "", "2000")})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Steps[0]; s.Decision != DecideAdvice || !strings.Contains(s.Note, "other than the host's initial one") {
		t.Errorf("per-netns sysctl from a container's namespace: %+v", s)
	}
	if s := res.Steps[1]; s.Decision != DecideChange || !s.Persist {
		t.Errorf("host-wide sysctl: %+v", s)
	}
}

// TestRestoreAfterReboot: device and IRQ knobs applied with --persist are written again by
// restore after a simulated reboot (the values back at their originals), journaled; restore
// leaves alone a knob whose device is no longer the same one, and a value someone else set;
// rollback undoes everything.
func TestRestoreAfterReboot(t *testing.T) {
	lab.RequireRoot(t)
	o := persistFixture(t)
	res, err := New(o).Apply([]policy.Action{action(rps0, "", "3"), action(irq, "", "1"), action(backlog, "", "2000")})
	if err != nil || res.Changed() != 3 {
		t.Fatalf("apply: %v\n%+v", err, res)
	}
	lines, _ := readJournal(o.StateDir)
	devices := map[string]string{}
	for _, e := range lines {
		devices[e.Knob] = e.Device
	}
	if devices[rps0] != "mac 52:54:00:12:34:56" || devices[irq] != "irq virtio0-input.0" || devices[backlog] != "" {
		t.Fatalf("devices recorded: %v", devices)
	}

	reboot := func() {
		write(t, filepath.Join(o.Env.SysRoot, "class/net/eth0/queues/rx-0/rps_cpus"), "0\n")
		write(t, filepath.Join(o.Env.ProcRoot, "irq/41/smp_affinity_list"), "0-1\n")
	}
	reboot()
	res, err = New(o).Restore()
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed() != 2 || read(t, o, rps0, "") != "3" || read(t, o, irq, "") != "1" {
		t.Fatalf("restore:\n%+v", res)
	}
	// Already restored: nothing to do.
	if res, err = New(o).Restore(); err != nil || res.Changed() != 0 || res.ID != "" {
		t.Fatalf("second restore: %v\n%+v", err, res)
	}

	// Another boot: eth0 is now another card, and IRQ 41 holds a value nobody of nettune's set.
	reboot()
	write(t, filepath.Join(o.Env.SysRoot, "class/net/eth0/address"), "52:54:00:ff:ff:ff\n")
	write(t, filepath.Join(o.Env.ProcRoot, "irq/41/smp_affinity_list"), "0\n")
	res, err = New(o).Restore()
	if err != nil || res.Changed() != 0 {
		t.Fatalf("restore on other hardware: %v\n%+v", err, res)
	}
	for _, s := range res.Steps {
		if s.Decision != DecideAdvice || !strings.Contains(s.Note, "not restored") {
			t.Errorf("%s: %+v", s.Knob, s)
		}
	}
	if read(t, o, rps0, "") != "0" || read(t, o, irq, "") != "0" {
		t.Error("restore wrote to a knob it should have left alone")
	}

	// Back on the original card; rollback undoes apply and restore alike.
	write(t, filepath.Join(o.Env.SysRoot, "class/net/eth0/address"), "52:54:00:12:34:56\n")
	write(t, filepath.Join(o.Env.ProcRoot, "irq/41/smp_affinity_list"), "0-1\n")
	if res, err = New(o).Restore(); err != nil || res.Changed() != 2 {
		t.Fatalf("restore: %v\n%+v", err, res)
	}
	if _, err := New(o).Rollback(""); err != nil {
		t.Fatal(err)
	}
	if read(t, o, rps0, "") != "0" || read(t, o, irq, "") != "0-1" || read(t, o, backlog, "") != "1000" {
		t.Error("rollback did not restore the originals")
	}
	if _, err := os.Stat(persistPathOf(o)); !os.IsNotExist(err) {
		t.Errorf("sysctl.d file after rollback: %v", err)
	}
	if res, err = New(o).Restore(); err != nil || len(res.Steps) != 0 {
		t.Errorf("restore after rollback: %v\n%+v", err, res)
	}
}

func TestParsePersistFile(t *testing.T) {
	good := renderPersistFile(map[string]string{"net.core.somaxconn": "8192", "net.ipv4.tcp_rmem": "4096 131072 67108864"})
	if v, err := parsePersistFile(good); err != nil || len(v) != 2 || v["net.ipv4.tcp_rmem"] != "4096 131072 67108864" {
		t.Fatalf("%v %v", v, err)
	}
	for name, b := range map[string]string{
		"empty":       "",
		"no header":   "net.core.somaxconn = 8192\n",
		"edited":      strings.Replace(string(good), "8192", "8193", 1),
		"appended":    string(good) + "net.core.rmem_max = 1\n",
		"not a knob":  string(renderPersistFile(map[string]string{"kernel.core_pattern": "1"})),
		"bad value":   string(renderPersistFile(map[string]string{"net.core.somaxconn": "-1"})),
		"read-only":   string(renderPersistFile(map[string]string{"net.core.wmem_max": "1"})),
		"header only": persistHeader + "\n",
	} {
		if _, err := parsePersistFile([]byte(b)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestPersistCrash: a run killed after its changes, before it wrote the sysctl.d file, has
// journaled what it persists: the next locked run writes the file, and rollback removes it.
func TestPersistCrash(t *testing.T) {
	lab.RequireRoot(t)
	o := persistFixture(t)
	applyAndDie(t, childSpec{StateDir: o.StateDir, ProcRoot: o.Env.ProcRoot, SysRoot: o.Env.SysRoot, ConfRoot: o.ConfRoot,
		Persist: true, Plan: []policy.Action{action(backlog, "", "2000")}, KillPoint: "persist"})
	file := persistPathOf(o)
	if _, err := os.Stat(file); !os.IsNotExist(err) || read(t, o, backlog, "") != "2000" {
		t.Fatalf("killed before the file: %v, backlog %s", err, read(t, o, backlog, ""))
	}
	res, err := New(o).Apply(nil)
	if err != nil || res.Persist == nil || res.Persist.Action != "written" {
		t.Fatalf("the next run: %v %+v", err, res.Persist)
	}
	if b, _ := os.ReadFile(file); !strings.HasSuffix(string(b), "\nnet.core.netdev_max_backlog = 2000\n") {
		t.Errorf("file:\n%s", b)
	}
	if _, err := New(o).Rollback(""); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) || read(t, o, backlog, "") != "1000" {
		t.Errorf("after rollback: %v, backlog %s", err, read(t, o, backlog, ""))
	}
}

// TestAutoPersists: auto mode with persistence on (config apply.persist) persists the change
// it makes, and its revert of that change, when it did not help, removes it from the file.
func TestAutoPersists(t *testing.T) {
	lab.RequireRoot(t)
	o := persistFixture(t)
	file := persistPathOf(o)
	rig := newAutoRig(t, o)
	engine := fakeEngine(t, o, func(int64) float64 { return 500 }) // the knob does nothing

	rig.run(engine)
	rig.run(engine)
	res := rig.run(engine)
	if res.Count("change") != 1 || res.Persist == nil || res.Persist.Action != "written" {
		t.Fatalf("run 3 should raise the backlog and persist it:\n%s%+v", why(res), res.Persist)
	}
	if b, err := os.ReadFile(file); err != nil || !strings.Contains(string(b), "\nnet.core.netdev_max_backlog = 2000\n") {
		t.Fatalf("%s after the change: %v\n%s", file, err, b)
	}
	res = rig.run(engine)
	if res.Count("revert") != 1 || res.Persist == nil || res.Persist.Action != "removed" {
		t.Fatalf("run 4 should revert and remove the persisted value:\n%s%+v", why(res), res.Persist)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("%s after the revert: %v", file, err)
	}
}
