package configs

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"go.yaml.in/yaml/v3"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/nettune/nettune/internal/ctrtest"
	"github.com/nettune/nettune/internal/lab"
)

// daemonSet is what of configs/kubernetes/daemonset.yaml reaches the container runtime.
type daemonSet struct {
	Kind string `yaml:"kind"`
	Spec struct {
		Template struct {
			Spec struct {
				HostNetwork bool `yaml:"hostNetwork"`
				HostPID     bool `yaml:"hostPID"`
				Containers  []struct {
					Image           string   `yaml:"image"`
					Command         []string `yaml:"command"`
					Args            []string `yaml:"args"`
					SecurityContext struct {
						RunAsUser                *int64 `yaml:"runAsUser"`
						Privileged               *bool  `yaml:"privileged"`
						AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
						ReadOnlyRootFilesystem   bool   `yaml:"readOnlyRootFilesystem"`
						Capabilities             struct {
							Add  []string `yaml:"add"`
							Drop []string `yaml:"drop"`
						} `yaml:"capabilities"`
						SeccompProfile struct {
							Type string `yaml:"type"`
						} `yaml:"seccompProfile"`
					} `yaml:"securityContext"`
					VolumeMounts []struct {
						Name             string `yaml:"name"`
						MountPath        string `yaml:"mountPath"`
						ReadOnly         bool   `yaml:"readOnly"`
						MountPropagation string `yaml:"mountPropagation"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
				Volumes []map[string]any `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func readDaemonSet(t *testing.T) *daemonSet {
	t.Helper()
	f, err := os.Open(filepath.Join("kubernetes", "daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	for {
		var ds daemonSet
		if err := dec.Decode(&ds); err != nil {
			t.Fatalf("no DaemonSet in daemonset.yaml: %v", err)
		}
		if ds.Kind == "DaemonSet" {
			return &ds
		}
	}
}

// imageRepo is where `make image` names the image by default (the Makefile's IMAGE_REPO).
const imageRepo = "docker.io/library/nettune"

// TestDaemonSetImageRef: the DaemonSet names the image by its full name (registry and
// repository), so that pinning it is appending the digest `make image` prints.
func TestDaemonSetImageRef(t *testing.T) {
	ds := readDaemonSet(t)
	img := ds.Spec.Template.Spec.Containers[0].Image
	ref, err := name.ParseReference(img, name.StrictValidation)
	if err != nil {
		t.Fatalf("image %q: %v", img, err)
	}
	repo := strings.TrimSuffix(img, ":"+ref.Identifier())
	if repo != imageRepo {
		t.Errorf("image %q: want %s:<tag>, the name make image gives it, so that %s@sha256:<digest> pins it", img, imageRepo, imageRepo)
	}
	if _, err := name.NewDigest(repo+"@sha256:"+strings.Repeat("0", 64), name.StrictValidation); err != nil {
		t.Errorf("cannot pin %s by digest: %v", repo, err)
	}
}

// TestImageRunsAsDaemonSet builds the image as `make image` does, imports it into a containerd
// started by the test and runs it as the DaemonSet runs it: host network and PID namespaces,
// the same capabilities, security context and mounts (read from daemonset.yaml, so the two
// cannot drift; the host paths are the test's own directories), by the digest-pinned name.
// Instead of serve, `nettune check` and `nettune advise` run and must work. The pod's "host"
// network namespace is the test daemon's own (ctrtest), never the machine's.
func TestImageRunsAsDaemonSet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nettune and its image")
	}
	c := ctrtest.Start(t)
	ds := readDaemonSet(t)
	pod := ds.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	spec := pod.Containers[0]

	bin := buildNettune(t)
	archive := filepath.Join(t.TempDir(), "nettune-image.tar")
	build := exec.Command("go", "-C", "../tools/dist", "run", "./image", "-bin", bin, "-out", archive, "-repo", imageRepo)
	build.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1772366400")
	out, err := build.CombinedOutput()
	if err != nil {
		t.Fatalf("image: %v\n%s", err, out)
	}
	// "<archive>: <repo>:<tag>@sha256:<digest>"
	m := regexp.MustCompile(`: (\S+):(\S+)@(sha256:[0-9a-f]{64})\n`).FindSubmatch(out)
	if m == nil || string(m[1]) != imageRepo {
		t.Fatalf("image printed %q", out)
	}
	pinned := imageRepo + "@" + string(m[3])
	c.ImportArchive(t, archive, imageRepo)

	// The "node" gets a NIC to measure: a veth from the daemon's namespace to a peer, on test
	// addresses.
	nic := lab.NewVeth(t, c.Netns, lab.NewNS(t, "ntpeer"), lab.VethOpts{})
	p := c.RunPodWith(t, "nettune", "nettune-test", ctrtest.PodOptions{HostNetwork: pod.HostNetwork, HostPID: pod.HostPID})
	mounts := volumeMounts(t, c, pod.Volumes, spec.VolumeMounts)
	sc := spec.SecurityContext
	sec := &runtimeapi.LinuxContainerSecurityContext{
		Capabilities:   &runtimeapi.Capability{AddCapabilities: sc.Capabilities.Add, DropCapabilities: sc.Capabilities.Drop},
		Privileged:     sc.Privileged != nil && *sc.Privileged,
		NoNewPrivs:     sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation,
		ReadonlyRootfs: sc.ReadOnlyRootFilesystem,
	}
	if sc.RunAsUser != nil {
		sec.RunAsUser = &runtimeapi.Int64Value{Value: *sc.RunAsUser}
	}
	switch sc.SeccompProfile.Type {
	case "RuntimeDefault":
		sec.Seccomp = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}
	case "", "Unconfined":
	default:
		t.Fatalf("seccomp profile %q: the test does not know it", sc.SeccompProfile.Type)
	}
	if len(spec.Command) > 0 {
		t.Fatalf("command %q: the image's entrypoint runs nettune", spec.Command)
	}
	// The DaemonSet's measuring flags, for advise.
	xdp := "auto"
	if i := slices.Index(spec.Args, "--xdp"); i >= 0 {
		xdp = spec.Args[i+1]
	}

	run := func(name string, args ...string) (int32, string, string) {
		ct := p.Start(t, ctrtest.ContainerSpec{Name: name, Image: pinned, Args: args, Mounts: mounts, Security: sec})
		return ct.Wait(t, 90*time.Second)
	}
	code, stdout, stderr := run("check", "check", "-o", "json")
	type probe struct {
		OK     bool   `json:"ok"`
		Reason string `json:"reason"`
	}
	var chk struct {
		TCX         probe `json:"tcx"`
		TPBTF       probe `json:"tp_btf"`
		DropReasons probe `json:"drop_reasons"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &chk) != nil {
		t.Fatalf("nettune check: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Logf("nettune check in the pod:\n%s", stdout)
	// What serve needs with the DaemonSet's capabilities and --xdp off: tc and kfree_skb probes.
	for name, pr := range map[string]probe{"tcx": chk.TCX, "tp_btf": chk.TPBTF, "drop_reasons": chk.DropReasons} {
		if !pr.OK {
			t.Errorf("check in the pod: %s not available: %s", name, pr.Reason)
		}
	}
	// The node's own namespace with probes: what the host's series come from.
	code, stdout, stderr = run("advise", "advise", "--netns", "host", "--interval", "2s", "--xdp", xdp, "-o", "json")
	var doc struct {
		Schema  string `json:"schema"`
		Mode    string `json:"mode"`
		BPFNote string `json:"bpf_note"`
		Funnel  []struct {
			Interface string `json:"interface"`
		} `json:"funnel"`
	}
	if code > 1 || json.Unmarshal([]byte(stdout), &doc) != nil || doc.Schema != "nettune.advise/v2" {
		t.Fatalf("nettune advise: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Logf("nettune advise in the pod: exit %d, mode %s (%s)", code, doc.Mode, doc.BPFNote)
	if doc.Mode != "counters+bpf" {
		t.Errorf("advise in the pod measured with counters alone: %s", doc.BPFNote)
	}
	var measured []string
	for _, f := range doc.Funnel {
		measured = append(measured, f.Interface)
	}
	if !slices.Contains(measured, nic.AName) {
		t.Errorf("advise in the pod measured %q, not the node's interface %s", measured, nic.AName)
	}

	// Every namespace of the node with the DaemonSet's capabilities (counters only: with the
	// host's PID namespace the pod sees every namespace of this machine, whose links the
	// tests never attach to): the peer's namespace, held by a process as a pod's would be
	// (its /run/netns name is the machine's, not the pod's), is entered and read, none is
	// refused.
	holder := exec.Command("ip", "netns", "exec", nic.B.Name, "sleep", "120")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	code, stdout, stderr = run("advise-node", "advise", "--no-bpf", "--interval", "1s", "-o", "json")
	var node struct {
		Schema     string `json:"schema"`
		Namespaces []struct {
			Inode uint64 `json:"inode"`
		} `json:"namespaces"`
		Errors []string `json:"errors"`
	}
	if code > 1 || json.Unmarshal([]byte(stdout), &node) != nil || node.Schema != "nettune.advise/v3" {
		t.Fatalf("nettune advise over the node: exit %d\n%s%s", code, stdout, stderr)
	}
	peer := lab.Inode(t, nic.B.Path)
	var found bool
	for _, ns := range node.Namespaces {
		found = found || ns.Inode == peer
	}
	if !found || len(node.Errors) > 0 {
		t.Errorf("advise over the node in the pod: peer namespace %d read: %v; errors %q", peer, found, node.Errors)
	}
}

// volumeMounts turns the DaemonSet's volumes into the mounts kubelet would ask the runtime for:
// a hostPath becomes a directory of the test (a shared mount point, so HostToContainer
// propagation works as on a node), an emptyDir of medium Memory a tmpfs of its size limit.
func volumeMounts(t *testing.T, c *ctrtest.Containerd, volumes []map[string]any, mounts []struct {
	Name             string `yaml:"name"`
	MountPath        string `yaml:"mountPath"`
	ReadOnly         bool   `yaml:"readOnly"`
	MountPropagation string `yaml:"mountPropagation"`
}) []*runtimeapi.Mount {
	t.Helper()
	host := map[string]string{}
	for _, v := range volumes {
		vname, _ := v["name"].(string)
		dir := c.HostDir(t, vname)
		switch {
		case v["hostPath"] != nil:
			if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
				t.Fatal(err)
			}
			if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
				t.Fatal(err)
			}
		case v["emptyDir"] != nil:
			ed, _ := v["emptyDir"].(map[string]any)
			if ed["medium"] != "Memory" {
				t.Fatalf("volume %s: only emptyDir medium Memory is translated", vname)
			}
			size, _ := ed["sizeLimit"].(string)
			if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+strings.TrimSuffix(size, "i")); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("volume %s: the test translates hostPath and emptyDir only: %v", vname, v)
		}
		host[vname] = dir
	}
	propagation := map[string]runtimeapi.MountPropagation{
		"": runtimeapi.MountPropagation_PROPAGATION_PRIVATE, "None": runtimeapi.MountPropagation_PROPAGATION_PRIVATE,
		"HostToContainer": runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER,
		"Bidirectional":   runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL,
	}
	var out []*runtimeapi.Mount
	for _, m := range mounts {
		dir, ok := host[m.Name]
		prop, known := propagation[m.MountPropagation]
		if !ok || !known {
			t.Fatalf("volume mount %s (propagation %q): no such volume, or a propagation the test does not know", m.Name, m.MountPropagation)
		}
		out = append(out, &runtimeapi.Mount{ContainerPath: m.MountPath, HostPath: dir, Readonly: m.ReadOnly, Propagation: prop})
	}
	return out
}
