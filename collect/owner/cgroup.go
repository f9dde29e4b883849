package owner

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Runtime is a container runtime recognised from a cgroup path or named by a CRI endpoint.
type Runtime string

// The runtimes whose cgroup layouts are known.
const (
	Containerd Runtime = "containerd"
	CRIO       Runtime = "cri-o"
	Docker     Runtime = "docker"
	Podman     Runtime = "podman"
)

// Cgroup is what a process's cgroup path says about it.
type Cgroup struct {
	Path string
	// Runtime is empty when the path does not say: under the cgroupfs driver containerd
	// (and Docker under a kubelet) name a container's cgroup by its bare ID.
	Runtime     Runtime
	ContainerID string // 64 hex digits; empty when the process is in no container
	PodUID      string // the Kubernetes pod UID, with dashes; empty outside a pod
}

// scopePrefixes name the runtime from a systemd-driver scope, <prefix><ID>.scope, and from
// the cgroupfs-driver directories that carry a prefix (CRI-O's crio-<ID>, Podman's
// libpod-<ID>). conmon's scopes (crio-conmon-, libpod-conmon-) hold the monitor, not the
// container, and do not match: what follows the prefix must be an ID.
var scopePrefixes = []struct {
	prefix  string
	runtime Runtime
}{
	{"cri-containerd-", Containerd},
	{"nerdctl-", Containerd},
	{"crio-", CRIO},
	{"docker-", Docker},
	{"libpod-", Podman},
}

// ParseCgroupPath reads the runtime, container ID and pod UID from a cgroup path, for the
// systemd and cgroupfs drivers of containerd (CRI and nerdctl), CRI-O, Docker and Podman, in
// cgroup v1 and v2 (the layout is the same in both). The deepest container segment wins (a
// container nested in another's cgroup is the inner one).
//
//	systemd:  /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<UID_>.slice/cri-containerd-<ID>.scope
//	          (crio-<ID>.scope, docker-<ID>.scope; /system.slice/docker-<ID>.scope;
//	          /machine.slice/libpod-<ID>.scope[/container])
//	cgroupfs: /kubepods/burstable/pod<UID>/<ID> (containerd, Docker), .../pod<UID>/crio-<ID>,
//	          /docker/<ID>, /libpod_parent/libpod-<ID>
//
// Kubelet's systemd driver writes the pod UID with underscores (slice names use dashes as
// separators); they are turned back into dashes. Guaranteed pods have no QoS level in the
// path (kubepods-pod<UID_>.slice, /kubepods/pod<UID>).
func ParseCgroupPath(path string) Cgroup {
	cg := Cgroup{Path: path}
	parent := ""
	for seg := range strings.SplitSeq(path, "/") {
		if uid, ok := podSegment(seg); ok {
			cg.PodUID = uid
		}
		if id, rt, ok := containerSegment(seg, parent); ok {
			cg.ContainerID, cg.Runtime = id, rt
		}
		if seg != "" {
			parent = seg
		}
	}
	return cg
}

func containerSegment(seg, parent string) (string, Runtime, bool) {
	if isContainerID(seg) {
		if parent == "docker" {
			return seg, Docker, true
		}
		return seg, "", true // a kubepods pod directory, or a runtime that does not say
	}
	name := strings.TrimSuffix(seg, ".scope")
	for _, p := range scopePrefixes {
		if id, ok := strings.CutPrefix(name, p.prefix); ok && isContainerID(id) {
			return id, p.runtime, true
		}
	}
	return "", "", false
}

// podSegment matches pod<UID> (cgroupfs) and kubepods[-QOS]-pod<UID_>.slice (systemd).
func podSegment(seg string) (string, bool) {
	if uid, ok := strings.CutPrefix(seg, "pod"); ok && isPodUID(uid) {
		return uid, true
	}
	name, ok := strings.CutSuffix(seg, ".slice")
	if !ok || !strings.HasPrefix(name, "kubepods-") {
		return "", false
	}
	i := strings.LastIndex(name, "-pod")
	if i < 0 {
		return "", false
	}
	uid := strings.ReplaceAll(name[i+len("-pod"):], "_", "-")
	return uid, isPodUID(uid)
}

// isContainerID: the 64 lowercase hex digits every one of these runtimes uses.
func isContainerID(s string) bool {
	return len(s) == 64 && isHex(s, false)
}

// isPodUID: a UUID (kubelet-assigned) or 32 hex digits (a static pod's hash).
func isPodUID(s string) bool {
	switch len(s) {
	case 32:
		return isHex(s, false)
	case 36:
		for _, i := range []int{8, 13, 18, 23} {
			if s[i] != '-' {
				return false
			}
		}
		return isHex(s, true)
	}
	return false
}

func isHex(s string, dashes bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || dashes && c == '-') {
			return false
		}
	}
	return true
}

// ParseProcCgroup reads /proc/PID/cgroup ("HIERARCHY:CONTROLLERS:PATH" lines; v2 is
// "0::PATH") and returns what the most telling path says: the first with a container, else
// with a pod, looking at the unified line first, then name=systemd, then the controllers in
// file order. Without either it returns the unified path (or the first one) as it is.
func ParseProcCgroup(r io.Reader) (Cgroup, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return Cgroup{}, err
	}
	return parseProcCgroup(b)
}

func parseProcCgroup(b []byte) (Cgroup, error) {
	// At most one unified and one name=systemd line; the rest in file order.
	var unified, systemd []byte
	var rest [][]byte
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte("\n"))
		if len(line) == 0 {
			continue
		}
		_, tail, ok1 := bytes.Cut(line, []byte(":"))
		ctrls, path, ok2 := bytes.Cut(tail, []byte(":"))
		if !ok1 || !ok2 || len(path) == 0 || path[0] != '/' {
			return Cgroup{}, fmt.Errorf("cgroup line %q", line)
		}
		switch string(ctrls) {
		case "":
			unified = path
		case "name=systemd":
			systemd = path
		default:
			rest = append(rest, path)
		}
	}
	var pod, first *Cgroup
	for _, p := range append([][]byte{unified, systemd}, rest...) {
		if p == nil {
			continue
		}
		cg := ParseCgroupPath(string(p))
		if cg.ContainerID != "" {
			return cg, nil
		}
		if cg.PodUID != "" && pod == nil {
			pod = &cg
		}
		if first == nil {
			first = &cg
		}
	}
	switch {
	case pod != nil:
		return *pod, nil
	case first != nil:
		return *first, nil
	}
	return Cgroup{}, fmt.Errorf("no cgroup lines")
}
