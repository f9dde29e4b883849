package ctrtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Pod is a pod sandbox made through the CRI API as a kubelet makes one.
type Pod struct {
	ID                   string // sandbox ID (the sandbox container's ID)
	UID, Namespace, Name string
	LogDir               string // PodLogDir/NAMESPACE_NAME_UID
	Cgroup               string // cgroupfs parent of the pod's containers
	Config               *runtimeapi.PodSandboxConfig
	c                    *Containerd
	removed              bool
}

// RunPod makes a pod sandbox with a new network namespace (bridged by CNI), removed at test
// cleanup with its containers.
func (c *Containerd) RunPod(t testing.TB, namespace, name string) *Pod {
	t.Helper()
	return c.runPod(t, namespace, name, &runtimeapi.NamespaceOption{
		Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD,
	})
}

func (c *Containerd) runPod(t testing.TB, namespace, name string, ns *runtimeapi.NamespaceOption) *Pod {
	t.Helper()
	uid := fmt.Sprintf("%s-%s-%s-%s-%s", randomHex(4), randomHex(2), randomHex(2), randomHex(2), randomHex(6))
	p := &Pod{UID: uid, Namespace: namespace, Name: name, c: c,
		LogDir: filepath.Join(c.PodLogDir, namespace+"_"+name+"_"+uid),
		Cgroup: c.CgroupRoot + "/kubepods/burstable/pod" + uid}
	// The labels are the ones kubelet puts on every sandbox.
	p.Config = &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Uid: uid, Namespace: namespace},
		LogDirectory: p.LogDir,
		Labels: map[string]string{
			"io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": namespace, "io.kubernetes.pod.uid": uid,
		},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent:    p.Cgroup,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: ns},
		},
	}
	// kubelet names the pod's host only in a network namespace of the pod's own: a pod in the
	// node's has the node's UTS namespace and name.
	if ns.Network != runtimeapi.NamespaceMode_NODE {
		p.Config.Hostname = name
	}
	if err := os.MkdirAll(p.LogDir, 0o755); err != nil { // kubelet makes it
		t.Fatal(err)
	}
	resp, err := c.Runtime.RunPodSandbox(c.Ctx(t), &runtimeapi.RunPodSandboxRequest{Config: p.Config})
	if err != nil {
		t.Fatalf("RunPodSandbox %s/%s: %v\n%s", namespace, name, err, c.logTail())
	}
	p.ID = resp.PodSandboxId
	t.Cleanup(func() {
		if !p.removed {
			p.Remove(t)
		}
	})
	return p
}

// Remove stops and removes the pod and its containers, as kubelet does when a pod is
// deleted: its network namespace goes with it.
func (p *Pod) Remove(t testing.TB) {
	t.Helper()
	c := p.c
	if _, err := c.Runtime.StopPodSandbox(c.Ctx(t), &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.ID}); err != nil {
		t.Errorf("StopPodSandbox %s: %v", p.ID, err)
	}
	if _, err := c.Runtime.RemovePodSandbox(c.Ctx(t), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.ID}); err != nil {
		t.Errorf("RemovePodSandbox %s: %v", p.ID, err)
	}
	p.removed = true
}

// PID is the sandbox ("pause") process.
func (p *Pod) PID(t testing.TB) int {
	t.Helper()
	resp, err := p.c.Runtime.PodSandboxStatus(p.c.Ctx(t), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: p.ID, Verbose: true})
	if err != nil {
		t.Fatalf("PodSandboxStatus %s: %v", p.ID, err)
	}
	return verbosePID(t, resp.Info)
}

// Container is a container started in a pod.
type Container struct {
	ID, Name string
	LogPath  string // PodLogDir/.../NAME/0.log
	Pod      *Pod
}

// RunContainer creates and starts a container running argv in the pod, with the labels and
// log layout kubelet gives it (including its /var/log/containers-style link). Stopped and
// removed at test cleanup, unless its pod was removed first.
func (p *Pod) RunContainer(t testing.TB, name string, argv ...string) *Container {
	t.Helper()
	return p.create(t, &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: Image},
		Command:  argv[:1],
		Args:     argv[1:],
	})
}

// create creates and starts the container cfg describes, with kubelet's labels and log layout.
func (p *Pod) create(t testing.TB, cfg *runtimeapi.ContainerConfig) *Container {
	t.Helper()
	c, name := p.c, cfg.Metadata.Name
	if err := os.MkdirAll(filepath.Join(p.LogDir, name), 0o755); err != nil { // kubelet makes it
		t.Fatal(err)
	}
	cfg.LogPath = filepath.Join(name, "0.log")
	cfg.Labels = map[string]string{
		"io.kubernetes.container.name": name, "io.kubernetes.pod.name": p.Name,
		"io.kubernetes.pod.namespace": p.Namespace, "io.kubernetes.pod.uid": p.UID,
	}
	resp, err := c.Runtime.CreateContainer(c.Ctx(t), &runtimeapi.CreateContainerRequest{PodSandboxId: p.ID, Config: cfg, SandboxConfig: p.Config})
	if err != nil {
		t.Fatalf("CreateContainer %s: %v\n%s", name, err, c.logTail())
	}
	ct := &Container{ID: resp.ContainerId, Name: name, LogPath: filepath.Join(p.LogDir, name, "0.log"), Pod: p}
	t.Cleanup(func() {
		if p.removed {
			return // removed with its pod
		}
		if _, err := c.Runtime.StopContainer(c.Ctx(t), &runtimeapi.StopContainerRequest{ContainerId: ct.ID, Timeout: 1}); err != nil {
			t.Errorf("StopContainer %s: %v", ct.ID, err)
		}
		if _, err := c.Runtime.RemoveContainer(c.Ctx(t), &runtimeapi.RemoveContainerRequest{ContainerId: ct.ID}); err != nil {
			t.Errorf("RemoveContainer %s: %v", ct.ID, err)
		}
	})
	if _, err := c.Runtime.StartContainer(c.Ctx(t), &runtimeapi.StartContainerRequest{ContainerId: ct.ID}); err != nil {
		t.Fatalf("StartContainer %s: %v\n%s", name, err, c.logTail())
	}
	link := filepath.Join(c.ContainerLogDir, fmt.Sprintf("%s_%s_%s-%s.log", p.Name, p.Namespace, name, ct.ID))
	if err := os.Symlink(ct.LogPath, link); err != nil {
		t.Fatal(err)
	}
	return ct
}

// PID is the container's first process.
func (ct *Container) PID(t testing.TB) int {
	t.Helper()
	c := ct.Pod.c
	resp, err := c.Runtime.ContainerStatus(c.Ctx(t), &runtimeapi.ContainerStatusRequest{ContainerId: ct.ID, Verbose: true})
	if err != nil {
		t.Fatalf("ContainerStatus %s: %v", ct.ID, err)
	}
	return verbosePID(t, resp.Info)
}

// verbosePID reads the pid from containerd's verbose status ("info" is JSON with "pid").
func verbosePID(t testing.TB, info map[string]string) int {
	t.Helper()
	var v struct {
		PID int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(info["info"]), &v); err != nil || v.PID <= 0 {
		t.Fatalf("no pid in the verbose status (%v): %.200s", err, info["info"])
	}
	// Started is not yet executed: until runc's init execs the container's program, the
	// process is "runc:[2:INIT]" (seen under load), with the program's name nowhere.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", v.PID))
		if err != nil || !bytes.HasPrefix(comm, []byte("runc:")) {
			break
		}
	}
	return v.PID
}
