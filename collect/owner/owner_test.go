package owner

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nettune/nettune/collect/netnsfind"
)

const sandboxPID, appPID, exitedPID = 16724, 16758, 16999

// fixtureResolver points a Resolver at the containerd fixture with the given CRI sockets.
func fixtureResolver(t *testing.T, sockets []string, logs bool) (*Resolver, string) {
	root := fixtureTree(t, "testdata/proc-containerd.txtar")
	o := Options{ProcRoot: root + "/proc", CRISockets: sockets,
		PodLogDir: root + "/log/pods", ContainerLogDir: root + "/log/containers", Timeout: 200 * time.Millisecond}
	if !logs {
		o.PodLogDir, o.ContainerLogDir = root+"/none/pods", root+"/none/containers"
	}
	return NewResolver(o), root
}

func fixtureNamespace() *netnsfind.Namespace {
	return &netnsfind.Namespace{ID: netnsfind.ID{Ino: 4026533304}, PIDs: []int{sandboxPID, appPID, exitedPID}}
}

var (
	sleepProc = Process{PID: sandboxPID, Comm: "sleep", Cgroup: Cgroup{Path: "/nettune-ctrtest-fe114a6d/kubepods/burstable/pod" + uid + "/" + id1, ContainerID: id1, PodUID: uid}}
	httpdProc = Process{PID: appPID, Comm: "httpd", Cgroup: Cgroup{Path: "/nettune-ctrtest-fe114a6d/kubepods/burstable/pod" + uid + "/" + id2, ContainerID: id2, PodUID: uid}}
)

// TestOwnerPodLogs: with no CRI socket, the pod comes from its log directory and the
// container's name from its log link; the sandbox has no link, so it has only its ID, and no
// runtime (the cgroupfs path does not say).
func TestOwnerPodLogs(t *testing.T) {
	r, root := fixtureResolver(t, []string{"/nonexistent/containerd.sock"}, true)
	got := r.Namespace(context.Background(), fixtureNamespace())
	want := Owner{
		Pod:        Pod{Namespace: "default", Name: "web-0", UID: uid},
		Containers: []Container{{ID: id1}, {ID: id2, Name: "app"}},
		Processes:  []Process{sleepProc, httpdProc},
		Omitted:    1,
		Source:     SourcePodLogs,
		Endpoint:   root + "/log/pods",
		Fallback:   "cri: no runtime socket at /nonexistent/containerd.sock",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("owner (-want +got):\n%s", diff)
	}
	if c, ok := got.ContainerOf(httpdProc); !ok || c.Name != "app" {
		t.Errorf("ContainerOf(httpd) = %+v, %t", c, ok)
	}
}

// TestOwnerCgroupOnly: with neither CRI nor log directories, only the cgroups speak.
func TestOwnerCgroupOnly(t *testing.T) {
	r, root := fixtureResolver(t, []string{}, false)
	got := r.Namespace(context.Background(), fixtureNamespace())
	if got.Source != SourceCgroup || got.Pod != (Pod{UID: uid}) || len(got.Containers) != 2 || got.Containers[1] != (Container{ID: id2}) {
		t.Errorf("got %+v", got)
	}
	want := "cri: no runtime socket; pod-logs: open " + root + "/none/pods: no such file or directory"
	if got.Fallback != want {
		t.Errorf("fallback %q, want %q", got.Fallback, want)
	}
}

// TestOwnerNotContainer: a process in no container is listed with no pod, and no runtime is
// asked.
func TestOwnerNotContainer(t *testing.T) {
	r, _ := fixtureResolver(t, []string{"/nonexistent"}, true)
	got := r.Processes(context.Background(), []int{2})
	want := Owner{Processes: []Process{{PID: 2, Comm: "kthreadd", Cgroup: Cgroup{Path: "/"}}}, Source: SourceCgroup}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if r.cri != nil {
		t.Error("CRI was asked about a process in no container")
	}
	if h := r.Namespace(context.Background(), &netnsfind.Namespace{Host: true, PIDs: []int{2}}); !h.Host || len(h.Processes) != 0 {
		t.Errorf("host owner %+v", h)
	}
}

func TestOwnerMaxProcesses(t *testing.T) {
	r, _ := fixtureResolver(t, []string{}, true)
	r.o.MaxProcesses = 1
	got := r.Namespace(context.Background(), fixtureNamespace())
	if len(got.Processes) != 1 || got.Processes[0].PID != sandboxPID || got.Omitted != 2 {
		t.Errorf("processes %v, omitted %d", got.Processes, got.Omitted)
	}
}

// TestCRISocketUnusable: a CRI socket that exists but cannot be used — nobody listening, not
// owned by root, not a socket, a server that never answers — falls back to the pod logs,
// saying why, within the timeout.
func TestCRISocketUnusable(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close() // the file stays, nobody listens: connection refused

	mute := filepath.Join(dir, "mute.sock")
	ml, err := net.Listen("unix", mute)
	if err != nil {
		t.Fatal(err)
	}
	defer ml.Close()
	go func() { // accepts and never says a word
		for {
			c, err := ml.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()

	plain := filepath.Join(dir, "plain.sock")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sockets := []string{stale, mute, plain}
	if os.Geteuid() == 0 {
		foreign := filepath.Join(dir, "foreign.sock")
		fl, err := net.Listen("unix", foreign)
		if err != nil {
			t.Fatal(err)
		}
		defer fl.Close()
		if err := os.Lchown(foreign, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		sockets = append(sockets, foreign)
	}

	r, _ := fixtureResolver(t, sockets, true)
	start := time.Now()
	got := r.Namespace(context.Background(), fixtureNamespace())
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v with a 200 ms timeout per socket", took)
	}
	if got.Source != SourcePodLogs || got.Pod.Name != "web-0" {
		t.Errorf("source %s, pod %+v", got.Source, got.Pod)
	}
	for _, want := range []string{stale + ": version: ", mute + ": version: ", plain + ": not a socket"} {
		if !strings.Contains(got.Fallback, want) {
			t.Errorf("fallback %q does not say %q", got.Fallback, want)
		}
	}
	if os.Geteuid() == 0 && !strings.Contains(got.Fallback, "foreign.sock: owned by uid 65534, not root") {
		t.Errorf("fallback %q does not refuse the socket owned by uid 65534", got.Fallback)
	}
	t.Logf("fallback: %s", got.Fallback)
}

func TestParseLogNames(t *testing.T) {
	for in, ok := range map[string]bool{
		"default_web-0_" + uid: true, "kube-system_coredns-5d78c9869d-abcde_" + static: true,
		"default_web-0": false, "default_web_0_" + uid: false, "Default_web-0_" + uid: false,
		"default_web-0_not-a-uid": false, "default_w\x1b[31m_" + uid: false,
	} {
		if _, got := parsePodDir(in); got != ok {
			t.Errorf("parsePodDir(%q) = %t", in, got)
		}
	}
	for in, want := range map[string]string{
		"web-0_default_app-" + id2 + ".log":                            "app",
		"coredns-5d78c9869d-abcde_kube-system_coredns-" + id1 + ".log": "coredns",
		"web-0_default_app-" + id2:                                     "",
		"web-0_default_app" + id2 + ".log":                             "",
		"web-0_default_-" + id2 + ".log":                               "",
		"web-0_default_app-" + id2[1:] + ".log":                        "",
	} {
		id, c, ok := parseContainerLog(in)
		if ok != (want != "") || c.name != want || ok && !isContainerID(id) {
			t.Errorf("parseContainerLog(%q) = %q, %+v, %t", in, id, c, ok)
		}
	}
}

func FuzzParseLogNames(f *testing.F) {
	f.Add("default_web-0_" + uid)
	f.Add("web-0_default_app-" + id2 + ".log")
	f.Fuzz(func(t *testing.T, s string) {
		if p, ok := parsePodDir(s); ok && (!isPodUID(p.UID) || !isName(p.Namespace, 63) || !isName(p.Name, 253)) {
			t.Errorf("parsePodDir(%q) = %+v", s, p)
		}
		if id, c, ok := parseContainerLog(s); ok && (!isContainerID(id) || !isName(c.name, 63) || !isName(c.pod.Name, 253)) {
			t.Errorf("parseContainerLog(%q) = %q, %+v", s, id, c)
		}
	})
}
