package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nettune/nettune/collect/netnsfind"
	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/pipeline"
)

func TestDropFilter(t *testing.T) {
	rows := []pipeline.DropRow{
		{Reason: "SOCKET_RCVBUFF", Link: "veth1", Ifindex: 7, Netns: 100, Count: 5},
		{Reason: "NO_SOCKET", Ifindex: 7, Netns: 100, Count: 3},
		{Reason: "NOT_SPECIFIED", Netns: 200, Count: 1},
	}
	for _, tc := range []struct {
		name    string
		f       dropFilter
		reasons []string
	}{
		{"all", dropFilter{}, []string{"SOCKET_RCVBUFF", "NO_SOCKET", "NOT_SPECIFIED"}},
		{"reason, any case and prefix", dropFilter{reasons: map[string]bool{reasonKey("skb_drop_reason_no_socket"): true}}, []string{"NO_SOCKET"}},
		{"iface by name or index", dropFilter{ifaces: map[string]bool{"if7": true}}, []string{"SOCKET_RCVBUFF", "NO_SOCKET"}},
		{"iface name", dropFilter{ifaces: map[string]bool{"veth1": true}}, []string{"SOCKET_RCVBUFF"}},
		{"netns", dropFilter{netns: 200}, []string{"NOT_SPECIFIED"}},
		{"netns and reason", dropFilter{netns: 100, reasons: map[string]bool{"NOT_SPECIFIED": true}}, nil},
	} {
		fr := pipeline.DropFrame{Drops: append([]pipeline.DropRow(nil), rows...)}
		tc.f.apply(&fr)
		var got []string
		for _, r := range fr.Drops {
			got = append(got, r.Reason)
		}
		if len(got) != len(tc.reasons) || (len(got) > 0 && got[0] != tc.reasons[0]) || (len(got) > 1 && got[1] != tc.reasons[1]) {
			t.Errorf("%s: kept %q, want %q", tc.name, got, tc.reasons)
		}
	}
	if _, err := newDropFilter(nil, nil, "nettune-nosuch"); err == nil {
		t.Error("an unknown --netns is accepted")
	}
}

func TestNetnsNames(t *testing.T) {
	proc := t.TempDir()
	if err := os.MkdirAll(filepath.Join(proc, "4242"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proc, "4242", "comm"), []byte("nginx\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := &netnsNames{procRoot: proc, snap: &netnsfind.Snapshot{Namespaces: []netnsfind.Namespace{
		{ID: netnsfind.ID{Ino: 1}, Host: true, PIDs: []int{1}},
		{ID: netnsfind.ID{Ino: 2}, Names: []string{"web"}, PIDs: []int{99}},
		{ID: netnsfind.ID{Ino: 3}, PIDs: []int{4242}},
		{ID: netnsfind.ID{Ino: 4}, PIDs: []int{4343}},
	}}}
	// A pod's namespace, named through the kubelet's log directories (no runtime socket).
	const uid = "0b5c3a0e-8f4e-4a52-9a3e-2f1d7c6b5a41"
	pid := filepath.Join(proc, "5151")
	if err := os.MkdirAll(pid, 0o755); err != nil {
		t.Fatal(err)
	}
	cg := "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + strings.ReplaceAll(uid, "-", "_") +
		".slice/cri-containerd-" + strings.Repeat("ab", 32) + ".scope\n"
	for name, data := range map[string]string{"comm": "coredns\n", "cgroup": cg} {
		if err := os.WriteFile(filepath.Join(pid, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	logs := t.TempDir()
	if err := os.MkdirAll(filepath.Join(logs, "kube-system_dns-0_"+uid), 0o755); err != nil {
		t.Fatal(err)
	}
	// Its container named through the kubelet's container log links.
	ctrs := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctrs, "dns-0_kube-system_coredns-"+strings.Repeat("ab", 32)+".log"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A container of no pod (a runtime without Kubernetes): its short ID.
	ctr := filepath.Join(proc, "6262")
	if err := os.MkdirAll(ctr, 0o755); err != nil {
		t.Fatal(err)
	}
	cg = "0::/system.slice/docker-" + strings.Repeat("cd", 32) + ".scope\n"
	for name, data := range map[string]string{"comm": "redis\n", "cgroup": cg} {
		if err := os.WriteFile(filepath.Join(ctr, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n.owners = &owner.Options{ProcRoot: proc, CRISockets: []string{}, PodLogDir: logs, ContainerLogDir: ctrs}
	n.snap.Namespaces = append(n.snap.Namespaces,
		netnsfind.Namespace{ID: netnsfind.ID{Ino: 6}, Names: []string{"cni-1234"}, PIDs: []int{5151}},
		netnsfind.Namespace{ID: netnsfind.ID{Ino: 7}, PIDs: []int{6262}})

	fr := pipeline.DropFrame{Drops: []pipeline.DropRow{{Netns: 1}, {Netns: 2}, {Netns: 3}, {Netns: 4}, {Netns: 5}, {Netns: 6}, {Netns: 7}}}
	n.name(&fr)
	want := []string{"host", "web", "pid 4242 nginx", "pid 4343", "", "pod kube-system/dns-0 coredns", "container cdcdcdcdcdcd"}
	for i, r := range fr.Drops {
		if r.NetnsName != want[i] {
			t.Errorf("netns %d named %q, want %q", r.Netns, r.NetnsName, want[i])
		}
	}
	if r := fr.Drops[5]; r.Pod != "kube-system/dns-0" || len(r.Containers) != 1 || r.Containers[0] != "coredns" {
		t.Errorf("pod row: pod %q, containers %q", r.Pod, r.Containers)
	}
}
