package pipeline

import (
	"reflect"
	"testing"

	"github.com/nettune/nettune/collect/netnsfind"
	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/policy"
)

func veth(name string, index, peer int, nsid int32) model.Link {
	return model.Link{Name: name, Index: index, Kind: "veth", PeerIfindex: peer, PeerNetnsID: &nsid}
}

func nsResult(ino uint64, host bool, pod string, findingOn string, links ...model.Link) NamespaceResult {
	r := NamespaceResult{Namespace: netnsfind.Namespace{ID: netnsfind.ID{Ino: ino}, Host: host},
		Delta: &model.Delta{Links: links}, Report: &policy.Report{}}
	if !host {
		r.Namespace.Mounts = []string{"/run/netns/ns" + string(rune('a'+ino%26))}
	}
	if pod != "" {
		r.Owner.Pod = owner.Pod{Namespace: "default", Name: pod}
	}
	if findingOn != "" {
		r.Report.Findings = []policy.Finding{{ID: "qdisc/x/" + findingOn, Interface: findingOn}}
	}
	return r
}

// Issue 13 item 2: a finding on a veth names the other end, in the host or in a pod; pairs
// whose ifindexes repeat elsewhere are settled by the nsid a clear pair resolved, or left
// unnamed.
func TestNamePeers(t *testing.T) {
	res := &NodeResult{Namespaces: []NamespaceResult{
		nsResult(1, true, "", "vethA", veth("vethA", 7, 2, 0), veth("vethB", 8, 2, 1), model.Link{Name: "eth0", Index: 1}),
		nsResult(2, false, "dns-0", "eth0", veth("eth0", 2, 7, 0)),
		nsResult(3, false, "web-0", "eth0", veth("eth0", 2, 8, 0)),
		// C's eth0 (3 ↔ 4) matches D's and F's; C's other pair (10 ↔ 11) is D's alone.
		nsResult(4, false, "", "eth0", veth("eth0", 3, 4, 5), veth("x", 10, 11, 5)),
		nsResult(5, false, "", "", veth("eth0", 4, 3, 0), veth("y", 11, 10, 0)),
		nsResult(6, false, "", "eth0", veth("eth0", 3, 4, 0)),
		nsResult(7, false, "", "", veth("eth0", 4, 3, 0)),
	}}
	namePeers(res)
	want := []*policy.LinkPeer{
		{Interface: "eth0", Ifindex: 2, NetnsIno: 2, Netns: "/run/netns/nsc", Pod: "default/dns-0"},
		{Interface: "vethA", Ifindex: 7, NetnsIno: 1, Host: true},
		{Interface: "vethB", Ifindex: 8, NetnsIno: 1, Host: true},
		{Interface: "eth0", Ifindex: 4, NetnsIno: 5, Netns: "/run/netns/nsf"},
		nil, // no finding
		nil, // 3 ↔ 4 with D and F, and no clear pair of its own to settle it
		nil,
	}
	for i, w := range want {
		var got *policy.LinkPeer
		if fs := res.Namespaces[i].Report.Findings; len(fs) > 0 {
			got = fs[0].Peer
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("namespace %d: peer %+v, want %+v", res.Namespaces[i].Namespace.ID.Ino, got, w)
		}
	}
}
