package ctrtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPodAndContainer: a pod sandbox and a container in it run, in the pod's own network
// namespace, in the cgroups kubelet's cgroupfs driver would give them, and log where kubelet
// expects.
func TestPodAndContainer(t *testing.T) {
	c := Start(t)
	p := c.RunPod(t, "default", "web-0")
	ct := p.RunContainer(t, "app", "/bin/sh", "-c", "echo started; exec /bin/sleep inf")
	sandbox, app := p.PID(t), ct.PID(t)

	netns := func(pid int) string {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	self := netns(os.Getpid())
	if netns(sandbox) != netns(app) || netns(app) == self {
		t.Errorf("sandbox in %s, container in %s, test in %s: want the pod's own", netns(sandbox), netns(app), self)
	}
	for pid, id := range map[int]string{sandbox: p.ID, app: ct.ID} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err != nil {
			t.Fatal(err)
		}
		if want := p.Cgroup + "/" + id; !strings.Contains(string(b), want) {
			t.Errorf("pid %d cgroups:\n%s\nwant %s", pid, b, want)
		}
	}
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", app)); string(comm) != "sleep\n" {
		t.Errorf("container comm %q", comm)
	}
}

// TestToolsFromCache: what make tools-test unpacked is preferred to the host's programs.
func TestToolsFromCache(t *testing.T) {
	cache := cacheDir()
	if _, err := os.Stat(filepath.Join(cache, "containerd", "usr", "bin", "containerd")); err != nil {
		t.Skipf("no unpacked containerd (make tools-test): %v", err)
	}
	tl := findTools(t)
	for _, p := range []string{tl.containerd, tl.shim, tl.ctr, tl.runc, tl.cniDir, tl.busybox} {
		if !strings.HasPrefix(p, cache+string(filepath.Separator)) {
			t.Errorf("%s is not from %s", p, cache)
		}
	}
}
