package owner

import (
	"strings"
	"testing"
)

const (
	id1 = "4b19981f7eb752419062013ce71d25324e83ee676dd25d3aa366bfcfa7f04a5d"
	id2 = "c34f8b1f2cf9a0268e2d624048264b510cf477413b21170555fea274ce426563"
	uid = "9b28207e-80e5-4ba6-4c3b-468fe27006be"
	// uidU is uid as kubelet's systemd driver writes it in slice names.
	uidU = "9b28207e_80e5_4ba6_4c3b_468fe27006be"
	// static is a static pod's UID (a hash, no dashes).
	static = "8a4a9aadd5b0f3f5f5b2d7f2b1dd5a1b"
)

// TestParseCgroupPath: every runtime and cgroup driver. The layout of a path is the same in
// cgroup v1 (per controller) and v2 (unified); the v1 and v2 cases differ in the roots above
// kubepods that real hosts have.
func TestParseCgroupPath(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		want       Cgroup
	}{
		{"containerd CRI systemd v2", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + id1 + ".scope",
			Cgroup{Runtime: Containerd, ContainerID: id1, PodUID: uid}},
		{"containerd CRI systemd guaranteed", "/kubepods.slice/kubepods-pod" + uidU + ".slice/cri-containerd-" + id1 + ".scope",
			Cgroup{Runtime: Containerd, ContainerID: id1, PodUID: uid}},
		{"containerd CRI systemd besteffort static pod", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + static + ".slice/cri-containerd-" + id1 + ".scope",
			Cgroup{Runtime: Containerd, ContainerID: id1, PodUID: static}},
		{"containerd CRI cgroupfs (real, this repo's harness)", "/nettune-ctrtest-fe114a6d/kubepods/burstable/pod" + uid + "/" + id1,
			Cgroup{ContainerID: id1, PodUID: uid}},
		{"containerd CRI cgroupfs guaranteed", "/kubepods/pod" + uid + "/" + id2,
			Cgroup{ContainerID: id2, PodUID: uid}},
		{"containerd CRI cgroupfs v1 under a kubelet cgroup root", "/kubelet/kubepods/besteffort/pod" + uid + "/" + id2,
			Cgroup{ContainerID: id2, PodUID: uid}},
		{"nerdctl systemd", "/system.slice/nerdctl-" + id1 + ".scope", Cgroup{Runtime: Containerd, ContainerID: id1}},
		{"CRI-O systemd", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/crio-" + id2 + ".scope",
			Cgroup{Runtime: CRIO, ContainerID: id2, PodUID: uid}},
		{"CRI-O systemd conmon", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/crio-conmon-" + id2 + ".scope",
			Cgroup{PodUID: uid}},
		{"CRI-O cgroupfs", "/kubepods/burstable/pod" + uid + "/crio-" + id2, Cgroup{Runtime: CRIO, ContainerID: id2, PodUID: uid}},
		{"Docker systemd", "/system.slice/docker-" + id1 + ".scope", Cgroup{Runtime: Docker, ContainerID: id1}},
		{"Docker cgroupfs", "/docker/" + id1, Cgroup{Runtime: Docker, ContainerID: id1}},
		{"Docker in Docker", "/docker/" + id1 + "/docker/" + id2, Cgroup{Runtime: Docker, ContainerID: id2}},
		{"cri-dockerd systemd", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/docker-" + id1 + ".scope",
			Cgroup{Runtime: Docker, ContainerID: id1, PodUID: uid}},
		{"cri-dockerd cgroupfs", "/kubepods/burstable/pod" + uid + "/" + id1, Cgroup{ContainerID: id1, PodUID: uid}},
		{"Podman systemd v2", "/machine.slice/libpod-" + id1 + ".scope/container", Cgroup{Runtime: Podman, ContainerID: id1}},
		{"Podman systemd pod", "/machine.slice/machine-libpod_pod_" + id2 + ".slice/libpod-" + id1 + ".scope", Cgroup{Runtime: Podman, ContainerID: id1}},
		{"Podman rootless", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id1 + ".scope", Cgroup{Runtime: Podman, ContainerID: id1}},
		{"Podman conmon", "/machine.slice/libpod-conmon-" + id1 + ".scope", Cgroup{}},
		{"Podman cgroupfs", "/libpod_parent/libpod-" + id1, Cgroup{Runtime: Podman, ContainerID: id1}},
		{"kubepods pod slice only (pod-level process)", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice",
			Cgroup{PodUID: uid}},
		{"host service", "/system.slice/sshd.service", Cgroup{}},
		{"root", "/", Cgroup{}},
		{"short hex is not an ID", "/docker/" + id1[:12], Cgroup{}},
		{"uppercase hex is not an ID", "/docker/" + strings.ToUpper(id1), Cgroup{}},
		{"bad pod UID", "/kubepods/burstable/podnot-a-uid/" + id1, Cgroup{ContainerID: id1}},
		{"kubepods QoS slice is not a pod", "/kubepods.slice/kubepods-burstable.slice", Cgroup{}},
	} {
		tc.want.Path = tc.path
		if got := ParseCgroupPath(tc.path); got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

func TestParseProcCgroup(t *testing.T) {
	v2 := "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + id1 + ".scope\n"
	for _, tc := range []struct {
		name, file string
		want       Cgroup
		err        bool
	}{
		{name: "v2 systemd", file: v2, want: ParseCgroupPath(strings.TrimPrefix(strings.TrimSpace(v2), "0::"))},
		// Hybrid on a systemd host with kubelet's cgroupfs driver: the unified line says
		// nothing, the controllers do.
		{name: "hybrid, container only in v1", file: "12:pids:/kubepods/burstable/pod" + uid + "/" + id2 + "\n1:name=systemd:/system.slice/containerd.service\n0::/\n",
			want: Cgroup{Path: "/kubepods/burstable/pod" + uid + "/" + id2, ContainerID: id2, PodUID: uid}},
		{name: "v1 pod only", file: "3:memory:/kubepods/burstable/pod" + uid + "\n2:cpu:/\n",
			want: Cgroup{Path: "/kubepods/burstable/pod" + uid, PodUID: uid}},
		{name: "host", file: "1:name=systemd:/init.scope\n0::/init.scope\n", want: Cgroup{Path: "/init.scope"}},
		{name: "v1 host prefers name=systemd", file: "4:memory:/user.slice\n1:name=systemd:/user.slice/session-1.scope\n", want: Cgroup{Path: "/user.slice/session-1.scope"}},
		{name: "empty", file: "", err: true},
		{name: "no path", file: "0::\n", err: true},
		{name: "one field", file: "garbage\n", err: true},
	} {
		got, err := ParseProcCgroup(strings.NewReader(tc.file))
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s: got %+v, %v; want %+v (error %t)", tc.name, got, err, tc.want, tc.err)
		}
	}
}

func FuzzParseProcCgroup(f *testing.F) {
	f.Add("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + id1 + ".scope\n")
	f.Add("4:memory:/kubepods/burstable/pod" + uid + "/" + id2 + "\n1:name=systemd:/docker/" + id1 + "\n")
	f.Fuzz(func(t *testing.T, s string) {
		cg, err := ParseProcCgroup(strings.NewReader(s))
		if err != nil {
			return
		}
		if cg.ContainerID != "" && !isContainerID(cg.ContainerID) || cg.PodUID != "" && !isPodUID(cg.PodUID) {
			t.Errorf("%q gave %+v", s, cg)
		}
		if cg.Runtime != "" && cg.ContainerID == "" {
			t.Errorf("%q: runtime without a container: %+v", s, cg)
		}
	})
}
