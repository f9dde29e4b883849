package apply

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/nettune/nettune/collect/netnsfind"
	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

const synBacklog = "sysctl:net.ipv4.tcp_max_syn_backlog"

// unnamedNS is a network namespace nothing names: `unshare --net` holding a sleep. kill ends
// it.
func unnamedNS(t *testing.T) (pid int, kill func()) {
	t.Helper()
	lab.RequireRoot(t)
	// The shell says so once it runs in the new namespace.
	cmd := exec.Command("unshare", "--net", "sh", "-c", "echo ready; exec sleep 600")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("unshare: %v", err)
	}
	done := false
	kill = func() {
		if !done {
			done = true
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
		}
	}
	t.Cleanup(kill)
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Skipf("unshare --net: %q %v", line, err)
	}
	return cmd.Process.Pid, kill
}

// found is the namespace discovery finds at path.
func found(t *testing.T, path string) netnsfind.Namespace {
	t.Helper()
	ino, err := netnsIno(path)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := netnsfind.Discover("/proc")
	if err != nil {
		t.Fatal(err)
	}
	ns, ok := snap.Lookup(ino)
	if !ok {
		t.Fatalf("discovery does not find %s (inode %d)", path, ino)
	}
	// A test namespace never is the host's or the test's: a test must not change the host's
	// settings. (/proc/self may be a thread lab.NewNS left in its namespace.)
	runtime.LockOSThread()
	own, err := netnsIno("/proc/thread-self/ns/net")
	runtime.UnlockOSThread()
	if err != nil || ns.Host || ino == own {
		t.Fatalf("%s is the host's or the test's own namespace (%v)", path, err)
	}
	return *ns
}

// lossy is a namespace's result with a capacity loss and plan.
func lossy(ns netnsfind.Namespace, plan ...policy.Action) pipeline.NamespaceResult {
	return pipeline.NamespaceResult{Namespace: ns, Report: &policy.Report{
		Findings: []policy.Finding{{ID: "test/" + ns.ID.String(), Class: stage.ClassCapacity, Severity: policy.SeverityWarning}},
		Plan:     plan}}
}

// raised is a knob's value and one step above it.
func raised(t *testing.T, o Options, id, ns string) (cur, next string) {
	cur = read(t, o, id, ns)
	n, err := strconv.Atoi(cur)
	if err != nil {
		t.Fatal(err)
	}
	return cur, strconv.Itoa(2 * n)
}

// TestNodeApplyThenOneNamespaceGone: one run changes a named and an unnamed namespace, each
// entered through its kept handle and journaled by inode; the unnamed one ends; rollback
// restores the named one and says, in its step, that the other is gone, without failing.
func TestNodeApplyThenOneNamespaceGone(t *testing.T) {
	named := lab.NewNS(t, "node")
	pid, kill := unnamedNS(t)
	path := filepath.Join("/proc", strconv.Itoa(pid), "ns", "net")
	o := Options{StateDir: t.TempDir(), ConfRoot: t.TempDir()}
	curA, nextA := raised(t, o, somaxconn, named.Name)
	_, nextB := raised(t, o, synBacklog, path)
	a, b := found(t, named.Path), found(t, path)
	nr := &pipeline.NodeResult{Namespaces: []pipeline.NamespaceResult{
		lossy(a, action(somaxconn, a.Path(), nextA)),
		lossy(b, action(synBacklog, b.Path(), nextB)),
	}}

	res, err := New(o).ApplyNode(nr)
	if err != nil || len(res.Steps) != 2 {
		t.Fatalf("apply: %v %+v", err, res)
	}
	for i, want := range []struct{ netns, cmd string }{
		{named.Name, "ip netns exec " + named.Name + " sysctl -w net.core.somaxconn=" + nextA},
		{path, "nsenter --net=" + path + " sysctl -w net.ipv4.tcp_max_syn_backlog=" + nextB},
	} {
		st := res.Steps[i]
		if st.Decision != DecideChange || st.Netns != want.netns || st.Command != want.cmd || st.NetnsIno == 0 {
			t.Errorf("step %d: %s %q %q ino %d; want change in %s: %s", i, st.Decision, st.Netns, st.Command, st.NetnsIno, want.netns, want.cmd)
		}
	}
	if got := read(t, o, somaxconn, named.Name); got != nextA {
		t.Fatalf("somaxconn of %s is %s after apply, want %s", named.Name, got, nextA)
	}
	if got := read(t, o, synBacklog, path); got != nextB {
		t.Fatalf("tcp_max_syn_backlog of the unnamed namespace is %s after apply, want %s", got, nextB)
	}
	lines, err := readJournal(o.StateDir)
	if err != nil || lines[1].NetnsIno != a.ID.Ino || lines[3].NetnsIno != b.ID.Ino {
		t.Fatalf("journal: %v %+v", err, lines)
	}

	kill()
	res, err = New(o).Rollback("")
	if err != nil || len(res.Steps) != 2 {
		t.Fatalf("rollback: %v %+v", err, res)
	}
	byNetns := map[string]Step{}
	for _, st := range res.Steps {
		byNetns[st.Netns] = st
	}
	if st := byNetns[named.Name]; st.Decision != DecideChange {
		t.Errorf("named namespace: %s %s %s; want it restored", st.Decision, st.Note, st.Error)
	}
	if st := byNetns[path]; st.Decision != DecideGone || !strings.Contains(st.Note, "no longer exists") {
		t.Errorf("gone namespace: %s %q; want gone, saying so", st.Decision, st.Note)
	}
	if got := read(t, o, somaxconn, named.Name); got != curA {
		t.Errorf("somaxconn of %s is %s after rollback, want %s", named.Name, got, curA)
	}
	if st, err := New(o).Status(); err != nil || len(st.Knobs) != 0 {
		t.Errorf("status after rollback: %v %+v", err, st)
	}
}

// TestNodeDryRunGlobalOnce: a global knob two namespaces propose is one step in nettune's
// own namespace with both findings; a namespace's own knob is proposed in it.
func TestNodeDryRunGlobalOnce(t *testing.T) {
	x, y := lab.NewNS(t, "gla"), lab.NewNS(t, "glb")
	o := Options{StateDir: t.TempDir(), ConfRoot: t.TempDir()}
	_, next := raised(t, o, somaxconn, x.Name)
	_, backlogNext := raised(t, o, backlog, "")
	glob := func(f string) policy.Action {
		a := action(backlog, "", backlogNext)
		a.Scope, a.Findings = model.ScopeGlobal, []string{f}
		return a
	}
	a, b := found(t, x.Path), found(t, y.Path)
	nr := &pipeline.NodeResult{Namespaces: []pipeline.NamespaceResult{
		lossy(a, glob("fa"), action(somaxconn, a.Path(), next)),
		lossy(b, glob("fb")),
	}}
	res, err := New(o).DryRunNode(nr)
	if err != nil || len(res.Steps) != 2 {
		t.Fatalf("dry run: %v %+v", err, res)
	}
	g, s := res.Steps[0], res.Steps[1]
	if g.Knob != backlog || g.Netns != "" || g.NetnsIno != 0 || strings.Join(g.Findings, ",") != "fa,fb" ||
		strings.HasPrefix(g.Command, "ip netns") {
		t.Errorf("global step: %+v", g)
	}
	if s.Netns != x.Name || s.Command != "ip netns exec "+x.Name+" sysctl -w net.core.somaxconn="+next {
		t.Errorf("namespace step: %+v", s)
	}
}

// TestRollbackNameReusedByANewNamespace: nettune changed somaxconn in a namespace named X
// that is gone, and again in the new namespace named X: rollback restores the new one and
// closes the old one's change as gone; the journal it leaves reads back.
func TestRollbackNameReusedByANewNamespace(t *testing.T) {
	ns := lab.NewNS(t, "reuse")
	o := Options{StateDir: t.TempDir(), ConfRoot: t.TempDir()}
	cur, next := raised(t, o, somaxconn, ns.Name)
	n := found(t, ns.Path)
	if _, err := New(o).ApplyNode(&pipeline.NodeResult{Namespaces: []pipeline.NamespaceResult{
		lossy(n, action(somaxconn, n.Path(), next))}}); err != nil {
		t.Fatal(err)
	}
	lines, err := readJournal(o.StateDir)
	if err != nil || len(lines) != 2 {
		t.Fatalf("journal: %v %+v", err, lines)
	}
	// The same name, an inode no namespace has, an earlier apply.
	old := set(somaxconn, ns.Name, "128", "256")
	old.NetnsIno = n.ID.Ino + 1<<20
	if err := os.WriteFile(filepath.Join(o.StateDir, journalFile),
		[]byte(headerLine(t)+line(t, old)+line(t, lines[0])+line(t, lines[1])), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := New(o).Rollback("")
	if err != nil || len(res.Steps) != 2 {
		t.Fatalf("rollback: %v %+v", err, res)
	}
	if res.Steps[0].Decision != DecideChange || res.Steps[1].Decision != DecideGone || read(t, o, somaxconn, ns.Name) != cur {
		t.Fatalf("rollback: %+v; somaxconn %s, want %s", res.Steps, read(t, o, somaxconn, ns.Name), cur)
	}
	if _, err := readJournal(o.StateDir); err != nil {
		t.Fatalf("the journal rollback left: %v", err)
	}
	if st, err := New(o).Status(); err != nil || len(st.Knobs) != 0 {
		t.Fatalf("status: %v %+v", err, st)
	}
}
