package cli

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/internal/ctrtest"
	"github.com/nettune/nettune/internal/lab"
)

// overflowIn makes a UDP receiver that never reads, with a tiny receive buffer, inside the
// namespace at path and floods it over that namespace's loopback until the test ends or
// stop is called: the namespace loses datagrams at udp-rcvbuf.
func overflowIn(t testing.TB, path string) (stop func()) {
	t.Helper()
	ns := &lab.NS{Name: path, Path: path}
	ns.Do(t, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	})
	sink := lab.UDPSink(t, ns, "127.0.0.1:0", lab.SinkOpts{RcvBuf: lab.TinyRcvBuf})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := lab.UDPFlood(ctx, ns, sink.Addr(), lab.FloodOpts{Size: 256, Flows: 2, PPS: 5000, Packets: 1 << 30, Duration: time.Hour}) // until stop
		done <- err
	}()
	stop = func() {
		if cancel == nil {
			return
		}
		cancel()
		cancel = nil
		if err := <-done; err != nil {
			t.Errorf("flood in %s: %v", path, err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func comm(pid int) string {
	b, _ := exec.Command("cat", fmt.Sprintf("/proc/%d/comm", pid)).Output()
	return strings.TrimSpace(string(b))
}

// adviseWholeNode runs `nettune advise` with no flags: the interval comes from the
// environment (NETTUNE_INTERVAL), and the probes stay off (NETTUNE_BPF_ENABLED) so that no
// program is attached to the links of the machine's own namespace.
func adviseWholeNode(t *testing.T, interval string) (int, string, string) {
	t.Helper()
	t.Setenv("NETTUNE_INTERVAL", interval)
	t.Setenv("NETTUNE_BPF_ENABLED", "false")
	return run(t, "advise")
}

// verdictLine is the table's first VERDICT line.
func verdictLine(out string) string {
	i := strings.Index(out, "VERDICT: ")
	if i < 0 {
		return ""
	}
	line, _, _ := strings.Cut(out[i:], "\n")
	return line
}

// `nettune advise` with no flags examines every namespace: a named one (/run/netns) and one
// made by `unshare --net` that nothing names both lose datagrams among quiet ones, and the
// report names both, with their owners; one that ends during the interval is left out
// without an error.
func TestAdviseWholeNodeNamesTheLossyNamespaces(t *testing.T) {
	lab.RequireRoot(t)
	named := lab.NewNS(t, "wnl")
	_, _ = lab.NewNS(t, "wnq"), lab.NewNS(t, "wnq")
	held, heldPath := lab.UnshareNet(t)
	doomed, _ := lab.UnshareNet(t)
	overflowIn(t, named.Path)
	overflowIn(t, heldPath)

	go func() {
		time.Sleep(time.Second)
		_ = doomed.Process.Kill()
	}()
	code, out, stderr := adviseWholeNode(t, "3s")
	t.Logf("advise:\n%s", out)
	if code != ExitLoss {
		t.Fatalf("exit %d, stderr %q; want %d (loss)", code, stderr, ExitLoss)
	}
	if v := verdictLine(out); !strings.Contains(v, "udp-rcvbuf") {
		t.Errorf("verdict %q does not name udp-rcvbuf", v)
	}
	heldBlock := fmt.Sprintf("netns of pid %d sleep: loses", held.Process.Pid)
	for _, want := range []string{
		"netns " + named.Name + ": loses", "netns: net:[", " at " + named.Path,
		heldBlock, fmt.Sprintf("processes: %d sleep", held.Process.Pid), "attribution: cgroup",
		"2 namespaces lose packets", "quiet namespaces (no loss in this interval): the host",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(out, "NOT READ") || strings.Contains(stderr, "error") {
		t.Errorf("a namespace that ended during the interval was an error:\nstderr %q", stderr)
	}
}

// The README's first command on a node with a lossy pod: `nettune advise` with no flags
// names the pod (namespace/name), its container and its processes, from the CRI of a real
// containerd; with the runtime's socket absent it says which source named them instead.
func TestAdviseWholeNodeNamesThePod(t *testing.T) {
	c := ctrtest.Start(t)
	p := c.RunPod(t, "default", "dns-0")
	ct := p.RunContainer(t, "coredns", "/bin/sleep", "3600")
	pid := ct.PID(t)
	defer func(o owner.Options) { ownerOptions = o }(ownerOptions)
	ownerOptions = owner.Options{CRISockets: []string{c.Socket}, PodLogDir: c.PodLogDir, ContainerLogDir: c.ContainerLogDir}
	overflowIn(t, fmt.Sprintf("/proc/%d/ns/net", pid))

	code, out, stderr := adviseWholeNode(t, "3s")
	t.Logf("advise:\n%s", out)
	if code != ExitLoss {
		t.Fatalf("exit %d, stderr %q; want %d (loss)", code, stderr, ExitLoss)
	}
	if v := verdictLine(out); !strings.Contains(v, "udp-rcvbuf in pod default/dns-0") {
		t.Errorf("verdict %q does not name the pod", v)
	}
	for _, want := range []string{
		"pod default/dns-0: loses", "pod: default/dns-0 (uid " + p.UID + ")",
		"coredns (containerd " + ct.ID[:12] + ")", fmt.Sprintf("%d sleep", pid),
		"attribution: cri (" + c.Socket + ")",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}

	// --netns narrows to the pod, by its name or a prefix of its container's ID: the report of
	// that namespace alone, as for a name under /run/netns.
	for _, ref := range []string{"pod/default/dns-0", "container/" + ct.ID[:10]} {
		code, out, stderr := run(t, "advise", "--netns", ref, "--interval", "1s", "-o", "json")
		if code != ExitLoss || !strings.Contains(out, `"schema": "nettune.advise/v2"`) || !strings.Contains(out, `"stage": "udp-rcvbuf"`) {
			t.Errorf("advise --netns %s: exit %d, stderr %q; want the pod's loss:\n%s", ref, code, stderr, out)
		}
	}
	code, _, stderr = run(t, "advise", "--netns", "pod/default/nosuch-0", "--interval", "1s")
	if code != ExitUsage || strings.Count(strings.TrimSpace(stderr), "\n") > 0 || !strings.Contains(stderr, "pod/default/nosuch-0") {
		t.Errorf("advise --netns of a pod that does not exist: exit %d, stderr %q; want 2 and one line naming it", code, stderr)
	}

	t.Run("runtime socket absent", func(t *testing.T) {
		ownerOptions.CRISockets = []string{c.Dir + "/absent.sock"}
		code, out, stderr := adviseWholeNode(t, "2s")
		if code != ExitLoss {
			t.Fatalf("exit %d, stderr %q; want %d (loss)", code, stderr, ExitLoss)
		}
		for _, want := range []string{"pod default/dns-0: loses", "attribution: pod-logs (" + c.PodLogDir + "); cri: no runtime socket at " + c.Dir + "/absent.sock"} {
			if !strings.Contains(out, want) {
				t.Errorf("report lacks %q:\n%s", want, out)
			}
		}
	})
}

// The verdict of a pod's loss names, in one line, the pod, the container, the process and the
// socket: a listener in a container (busybox nc, stopped so that it accepts nothing)
// overflows its accept queue while `nettune advise` with no flags measures.
func TestAdviseWholeNodeNamesThePodsListener(t *testing.T) {
	c := ctrtest.Start(t)
	p := c.RunPod(t, "default", "web-0")
	ct := p.RunContainer(t, "web", "/bin/nc", "-l", "-p", "8080")
	pid := ct.PID(t)
	lab.WaitListening(t, pid, 8080)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	defer func(o owner.Options) { ownerOptions = o }(ownerOptions)
	ownerOptions = owner.Options{CRISockets: []string{c.Socket}, PodLogDir: c.PodLogDir, ContainerLogDir: c.ContainerLogDir}

	podNS := fmt.Sprintf("/proc/%d/ns/net", pid)
	ctx, cancel := context.WithCancel(context.Background())
	storm := make(chan struct{})
	go func() {
		defer close(storm)
		for ctx.Err() == nil {
			lab.TCPConnectStorm(ctx, &lab.NS{Name: podNS, Path: podNS}, "127.0.0.1:8080", 16, 100*time.Millisecond)
		}
	}()
	code, out, stderr := adviseWholeNode(t, "3s")
	cancel()
	<-storm
	t.Logf("advise:\n%s", out)
	if code != ExitLoss {
		t.Fatalf("exit %d, stderr %q; want %d (loss)", code, stderr, ExitLoss)
	}
	want := fmt.Sprintf("packets are lost at tcp-accept-queue in pod default/web-0 (container web, pid %d nc, tcp ", pid)
	if v := verdictLine(out); !strings.Contains(v, want) || !strings.Contains(v, ":8080)") {
		t.Errorf("verdict %q, want %q… naming the listener on 8080", v, want)
	}
	if !strings.Contains(out, "pod default/web-0: loses") || !strings.Contains(out, "web (containerd "+ct.ID[:12]+")") {
		t.Errorf("the pod's block does not name the pod and its container:\n%s", out)
	}
}
