package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nettune/nettune/collect/netnsfind"
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
	fr := pipeline.DropFrame{Drops: []pipeline.DropRow{{Netns: 1}, {Netns: 2}, {Netns: 3}, {Netns: 4}, {Netns: 5}}}
	n.name(&fr)
	want := []string{"host", "web", "pid 4242 nginx", "pid 4343", ""}
	for i, r := range fr.Drops {
		if r.NetnsName != want[i] {
			t.Errorf("netns %d named %q, want %q", r.Netns, r.NetnsName, want[i])
		}
	}
}
