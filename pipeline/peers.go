package pipeline

import (
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/policy"
)

// namePeers gives each finding on a veth whose other end is in another namespace of the node
// that end (name, ifindex, namespace), so a pod's loss and its host-side veth's read as one
// path. A link knows its peer's ifindex and an nsid that only its own namespace can resolve,
// so the ends are paired across the node: two veths in different namespaces that name each
// other's ifindex. Where several pairs do (ifindexes repeat across namespaces), a namespace
// whose nsid an unambiguous pair already resolved settles it; otherwise no peer is named.
func namePeers(res *NodeResult) {
	type end struct {
		ns   int
		link *model.Link
	}
	byIndex := map[int][]end{}
	var lossy []int // namespaces with findings on an interface: the only ones to name
	for i := range res.Namespaces {
		d := res.Namespaces[i].Delta
		for j := range d.Links {
			if l := &d.Links[j]; l.PeerIfindex > 0 && l.PeerNetnsID != nil {
				byIndex[l.Index] = append(byIndex[l.Index], end{i, l})
			}
		}
		for _, f := range res.Namespaces[i].Report.Findings {
			if f.Interface != "" {
				lossy = append(lossy, i)
				break
			}
		}
	}
	if len(lossy) == 0 {
		return
	}
	candidates := func(e end) []end {
		var out []end
		for _, c := range byIndex[e.link.PeerIfindex] {
			if c.ns != e.ns && c.link.PeerIfindex == e.link.Index {
				out = append(out, c)
			}
		}
		return out
	}
	// nsid → namespace, per namespace, from the pairs that are unambiguous.
	nsids := make([]map[int32]int, len(res.Namespaces))
	for _, ends := range byIndex {
		for _, e := range ends {
			if cs := candidates(e); len(cs) == 1 {
				if nsids[e.ns] == nil {
					nsids[e.ns] = map[int32]int{}
				}
				nsids[e.ns][*e.link.PeerNetnsID] = cs[0].ns
			}
		}
	}
	for _, i := range lossy {
		r := &res.Namespaces[i]
		for k := range r.Report.Findings {
			f := &r.Report.Findings[k]
			l := r.Delta.Link(f.Interface)
			if f.Interface == "" || l == nil || l.PeerIfindex == 0 || l.PeerNetnsID == nil {
				continue
			}
			cs := candidates(end{i, l})
			if len(cs) > 1 {
				j, ok := nsids[i][*l.PeerNetnsID]
				var settled []end
				for _, c := range cs {
					if ok && c.ns == j {
						settled = append(settled, c)
					}
				}
				cs = settled
			}
			if len(cs) == 1 {
				f.Peer = peerOf(&res.Namespaces[cs[0].ns], cs[0].link)
			}
		}
	}
}

func peerOf(r *NamespaceResult, l *model.Link) *policy.LinkPeer {
	p := &policy.LinkPeer{Interface: l.Name, Ifindex: l.Index, NetnsIno: r.Namespace.ID.Ino, Host: r.Namespace.Host}
	if !p.Host {
		p.Netns = r.Namespace.Path() // what the collector names the namespace's findings by
	}
	if r.Owner.Pod.Name != "" {
		p.Pod = r.Owner.Pod.Namespace + "/" + r.Owner.Pod.Name
	}
	return p
}
