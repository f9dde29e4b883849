package owner

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nettune/nettune/collect/netnsfind"
	"github.com/nettune/nettune/internal/ctrtest"
)

// podNamespace discovers the namespaces and returns the one pid is in.
func podNamespace(t *testing.T, pid int) *netnsfind.Namespace {
	t.Helper()
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		t.Fatal(err)
	}
	ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "net:["), "]"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	s, err := netnsfind.Discover("/proc")
	if err != nil {
		t.Fatal(err)
	}
	ns, ok := s.Lookup(ino)
	if !ok {
		t.Fatalf("namespace %s of pid %d not discovered", link, pid)
	}
	return ns
}

// listenerInode finds the TCP listener on port in pid's namespace in /proc/PID/net/tcp{,6}.
func listenerInode(t *testing.T, pid int, port uint16) uint64 {
	t.Helper()
	for _, file := range []string{"tcp6", "tcp"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, file))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fl := strings.Fields(sc.Text())
			if len(fl) > 9 && fl[3] == "0A" && strings.HasSuffix(fl[1], fmt.Sprintf(":%04X", port)) {
				ino, _ := strconv.ParseUint(fl[9], 10, 64)
				f.Close()
				return ino
			}
		}
		f.Close()
	}
	t.Fatalf("no TCP listener on port %d in pid %d's namespace", port, pid)
	return 0
}

// TestContainerdPod attributes a pod made through containerd's CRI plugin: the namespace
// (found through the runtime's own netns mount and the pod's processes) is the pod's, by
// name, UID, containers and runtime, from CRI; a socket in it is the container's process's.
// Then the same pod with the CRI socket absent, refused, and with no log directories either.
func TestContainerdPod(t *testing.T) {
	c := ctrtest.Start(t)
	p := c.RunPod(t, "shop", "web-0")
	ct := p.RunContainer(t, "app", "/bin/httpd", "-f", "-p", "8080")
	sandbox, app := p.PID(t), ct.PID(t)

	ns := podNamespace(t, app)
	if !slices.Contains(ns.PIDs, sandbox) || !slices.Contains(ns.PIDs, app) || ns.Host {
		t.Errorf("pod namespace %+v, want pids %d and %d", ns, sandbox, app)
	}
	if len(ns.Mounts) != 1 || !strings.HasPrefix(ns.Mounts[0], c.Dir+"/state/io.containerd.grpc.v1.cri/netns/cni-") {
		t.Errorf("pod namespace mounts %v, want the CRI plugin's netns mount", ns.Mounts)
	}

	opts := Options{CRISockets: []string{c.Socket}, PodLogDir: c.PodLogDir, ContainerLogDir: c.ContainerLogDir}
	start := time.Now()
	got := NewResolver(opts).Namespace(context.Background(), ns)
	t.Logf("attribution through CRI (version, two lists, two processes): %v", time.Since(start))
	cgroup := func(id string) Cgroup { return Cgroup{Path: p.Cgroup + "/" + id, ContainerID: id, PodUID: p.UID} }
	procs := []Process{{PID: sandbox, Comm: "sleep", Cgroup: cgroup(p.ID)}, {PID: app, Comm: "httpd", Cgroup: cgroup(ct.ID)}}
	if app < sandbox { // PIDs wrap at pid_max: lowest first, whichever started first
		procs[0], procs[1] = procs[1], procs[0]
	}
	want := Owner{
		Pod:        Pod{Namespace: "shop", Name: "web-0", UID: p.UID},
		Containers: []Container{{ID: p.ID, Runtime: Containerd, Sandbox: true}, {ID: ct.ID, Name: "app", Runtime: Containerd}},
		Processes:  procs,
		Source:     SourceCRI,
		Endpoint:   c.Socket,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("owner from CRI (-want +got):\n%s", diff)
	}

	// The socket httpd listens on belongs to httpd, in container app.
	ino := listenerInode(t, app, 8080)
	owners, err := SocketOwners("/proc", ns.PIDs, []uint64{ino})
	if err != nil || !cmp.Equal(owners[ino], []int{app}) {
		t.Fatalf("owners of socket %d: %v, %v; want [%d]", ino, owners, err, app)
	}
	so := NewResolver(opts).Processes(context.Background(), owners[ino])
	if cont, ok := so.ContainerOf(so.Processes[0]); !ok || cont.Name != "app" || so.Pod.Name != "web-0" || so.Processes[0].Comm != "httpd" {
		t.Errorf("socket owner %+v (container %+v)", so, cont)
	}

	// Fallbacks. The cgroupfs path does not name the runtime: without CRI it is unknown.
	named := []Container{{ID: p.ID}, {ID: ct.ID, Name: "app"}}
	t.Run("socket absent", func(t *testing.T) {
		o := opts
		o.CRISockets = []string{c.Dir + "/absent.sock"}
		got := NewResolver(o).Namespace(context.Background(), ns)
		want := Owner{Pod: want.Pod, Containers: named, Processes: procs, Source: SourcePodLogs, Endpoint: c.PodLogDir,
			Fallback: "cri: no runtime socket at " + c.Dir + "/absent.sock"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("socket refused", func(t *testing.T) {
		if err := os.Lchown(c.Socket, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := os.Lchown(c.Socket, 0, 0); err != nil {
				t.Fatal(err)
			}
		}()
		got := NewResolver(opts).Namespace(context.Background(), ns)
		if got.Source != SourcePodLogs || got.Pod != want.Pod || got.Fallback != "cri: "+c.Socket+": owned by uid 65534, not root" {
			t.Errorf("got source %s, pod %+v, fallback %q", got.Source, got.Pod, got.Fallback)
		}
	})
	t.Run("no socket, no logs", func(t *testing.T) {
		o := Options{CRISockets: []string{}, PodLogDir: c.Dir + "/none", ContainerLogDir: c.Dir + "/none"}
		got := NewResolver(o).Namespace(context.Background(), ns)
		want := Owner{Pod: Pod{UID: p.UID}, Containers: []Container{{ID: p.ID}, {ID: ct.ID}}, Processes: procs, Source: SourceCgroup,
			Fallback: "cri: no runtime socket; pod-logs: open " + c.Dir + "/none: no such file or directory"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

// TestContainerdPodDeleted: the namespace of a pod deleted after discovery cannot be opened,
// and says so with netnsfind.ErrGone.
func TestContainerdPodDeleted(t *testing.T) {
	c := ctrtest.Start(t)
	p := c.RunPod(t, "shop", "gone-0")
	ns := podNamespace(t, p.PID(t))
	h, err := ns.Open()
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	p.Remove(t)
	if _, err := ns.Open(); !errors.Is(err, netnsfind.ErrGone) {
		t.Errorf("Open after the pod was removed: %v, want ErrGone", err)
	}
}
