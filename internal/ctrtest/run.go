package ctrtest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ImportArchive imports an image archive (an OCI image layout or docker-archive tarball) into
// the CRI plugin's containerd namespace, unpacked for the configured snapshotter, as an admin
// does on a node: `ctr -n k8s.io images import --base-name REPO --digests ARCHIVE`. The images
// named REPO:<tag> are imported under that name and also as REPO@<digest>, the digest-pinned
// name kubelet can then find without a registry.
func (c *Containerd) ImportArchive(t testing.TB, archive, repo string) {
	t.Helper()
	out, err := exec.Command(c.tools.ctr, "--address", c.Socket, "--namespace", "k8s.io", "images", "import",
		"--snapshotter", c.snapshotter, "--base-name", repo, "--digests", archive).CombinedOutput()
	if err != nil {
		t.Fatalf("ctr images import %s: %v\n%s\n%s", archive, err, out, c.logTail())
	}
}

// PodOptions are the pod-level settings of a pod spec the CRI sees.
type PodOptions struct {
	HostNetwork bool // the pod shares the node's network namespace (here: the daemon's)
	HostPID     bool // the pod shares the node's PID namespace
}

// ContainerSpec is a container as kubelet hands it to the runtime: image, command line,
// environment, mounts and security context.
type ContainerSpec struct {
	Name     string
	Image    string
	Command  []string // the image's entrypoint when empty
	Args     []string
	Env      map[string]string
	Mounts   []*runtimeapi.Mount
	Security *runtimeapi.LinuxContainerSecurityContext
}

// RunPodWith is RunPod with pod-level options: in the node's network namespace, kubelet
// asks for namespace mode NODE and the runtime makes none (CNI is not called).
func (c *Containerd) RunPodWith(t testing.TB, namespace, name string, o PodOptions) *Pod {
	t.Helper()
	mode := func(host bool, otherwise runtimeapi.NamespaceMode) runtimeapi.NamespaceMode {
		if host {
			return runtimeapi.NamespaceMode_NODE
		}
		return otherwise
	}
	return c.runPod(t, namespace, name, &runtimeapi.NamespaceOption{
		Network: mode(o.HostNetwork, runtimeapi.NamespaceMode_POD),
		Pid:     mode(o.HostPID, runtimeapi.NamespaceMode_CONTAINER),
		Ipc:     runtimeapi.NamespaceMode_POD,
	})
}

// Start creates and starts a container from spec in the pod. Stopped and removed at test
// cleanup, unless its pod was removed first.
func (p *Pod) Start(t testing.TB, spec ContainerSpec) *Container {
	t.Helper()
	var env []*runtimeapi.KeyValue
	for k, v := range spec.Env {
		env = append(env, &runtimeapi.KeyValue{Key: k, Value: []byte(v)})
	}
	sec := spec.Security
	if sec == nil {
		sec = &runtimeapi.LinuxContainerSecurityContext{}
	}
	// The pod's namespaces, as kubelet repeats them for each container.
	sec.NamespaceOptions = p.Config.Linux.SecurityContext.NamespaceOptions
	return p.create(t, &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: spec.Name},
		Image:    &runtimeapi.ImageSpec{Image: spec.Image},
		Command:  spec.Command,
		Args:     spec.Args,
		Envs:     env,
		Mounts:   spec.Mounts,
		Linux:    &runtimeapi.LinuxContainerConfig{SecurityContext: sec},
	})
}

// Wait waits until the container exited (at most timeout) and returns its exit code and
// what it wrote to stdout and stderr (from its CRI log).
func (ct *Container) Wait(t testing.TB, timeout time.Duration) (code int32, stdout, stderr string) {
	t.Helper()
	c := ct.Pod.c
	deadline := time.Now().Add(timeout)
	for {
		resp, err := c.Runtime.ContainerStatus(c.Ctx(t), &runtimeapi.ContainerStatusRequest{ContainerId: ct.ID})
		if err != nil {
			t.Fatalf("ContainerStatus %s: %v", ct.ID, err)
		}
		if st := resp.Status; st.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			stdout, stderr = ct.logs(t)
			return st.ExitCode, stdout, stderr
		}
		if time.Now().After(deadline) {
			stdout, stderr = ct.logs(t)
			t.Fatalf("container %s still running after %s\nstdout:\n%s\nstderr:\n%s", ct.Name, timeout, stdout, stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logs reads the CRI log of the container: lines "<time> <stream> <P|F> <text>", a partial
// (P) line continued by the next one of its stream.
func (ct *Container) logs(t testing.TB) (stdout, stderr string) {
	t.Helper()
	f, err := os.Open(ct.LogPath)
	if err != nil {
		t.Fatalf("container log: %v", err)
	}
	defer f.Close()
	var out, errb strings.Builder
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		fields := strings.SplitN(sc.Text(), " ", 4)
		if len(fields) < 3 {
			continue
		}
		text := ""
		if len(fields) == 4 {
			text = fields[3]
		}
		if fields[2] == "F" {
			text += "\n"
		}
		if fields[1] == "stderr" {
			errb.WriteString(text)
		} else {
			out.WriteString(text)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("container log %s: %v", ct.LogPath, err)
	}
	return out.String(), errb.String()
}

// HostDir is a directory of the test on the "node", for a hostPath volume: made under the
// daemon's directory and removed with it.
func (c *Containerd) HostDir(t testing.TB, name string) string {
	t.Helper()
	d := filepath.Join(c.Dir, "host", name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}
