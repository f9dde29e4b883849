package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nettune/nettune/collect/netnsfind"
	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/pipeline"
)

// dropFilter keeps the rows of the drops view a person asked for (pwru and dropwatch users
// expect to narrow by reason, interface and namespace); empty sets keep everything.
type dropFilter struct {
	reasons map[string]bool // upper case, without SKB_DROP_REASON_
	ifaces  map[string]bool
	netns   uint64 // nsfs inode; 0 = every namespace
}

func newDropFilter(reasons, ifaces []string, ns string) (dropFilter, error) {
	f := dropFilter{reasons: map[string]bool{}, ifaces: map[string]bool{}}
	for _, r := range reasons {
		f.reasons[reasonKey(r)] = true
	}
	for _, i := range ifaces {
		f.ifaces[i] = true
	}
	if ns != "" {
		ino, err := netnsInode(ns)
		if err != nil {
			return f, err
		}
		f.netns = ino
	}
	return f, nil
}

func reasonKey(r string) string {
	return strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(r)), "SKB_DROP_REASON_")
}

func (f dropFilter) keep(r pipeline.DropRow) bool {
	if len(f.reasons) > 0 && !f.reasons[reasonKey(r.Reason)] {
		return false
	}
	if len(f.ifaces) > 0 && !f.ifaces[r.Link] && !f.ifaces[fmt.Sprintf("if%d", r.Ifindex)] {
		return false
	}
	return f.netns == 0 || r.Netns == f.netns
}

// apply filters the frame's rows in place.
func (f dropFilter) apply(fr *pipeline.DropFrame) {
	kept := fr.Drops[:0]
	for _, r := range fr.Drops {
		if f.keep(r) {
			kept = append(kept, r)
		}
	}
	fr.Drops = kept
}

// netnsInode is the nsfs inode of a --netns value ("host" is the namespace of PID 1).
func netnsInode(ns string) (uint64, error) {
	p := netns.Path(ns)
	if ns == "host" {
		p = "/proc/1/ns/net"
	}
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		return 0, usagef("netns %q: %w", ns, err)
	}
	return st.Ino, nil
}

// netnsNames names the namespaces of drop rows for a person: "host", the pod and its
// containers ("pod default/dns-0 coredns", from the container runtime or the kubelet's log
// directories), a container without a pod ("container web-1"), the `ip netns` name, or the
// lowest process in it ("pid 4242 nginx"). Discovery runs again, with a fresh owner.Resolver
// (which caches the runtime's lists), when a row names a namespace the last one did not find
// (a pod started), at most once per frame; each namespace is attributed once.
type netnsNames struct {
	procRoot string
	owners   *owner.Options // nil: no pod or container names
	resolver *owner.Resolver
	snap     *netnsfind.Snapshot
	named    map[uint64]dropsNetns
}

// dropsNetns is how a namespace is named in drop rows.
type dropsNetns struct {
	label, pod string
	containers []string
}

func (n *netnsNames) name(fr *pipeline.DropFrame) {
	rediscovered := false
	for i := range fr.Drops {
		r := &fr.Drops[i]
		nm, ok := n.named[r.Netns]
		if !ok {
			ns, found := n.lookup(r.Netns)
			if !found && !rediscovered {
				rediscovered = true
				if s, err := netnsfind.Discover(n.procRoot); err == nil {
					n.snap = s
					n.resolver = nil
				}
				ns, found = n.lookup(r.Netns)
			}
			if !found {
				continue
			}
			if n.named == nil {
				n.named = map[uint64]dropsNetns{}
			}
			nm = n.label(ns)
			n.named[r.Netns] = nm
		}
		r.NetnsName, r.Pod, r.Containers = nm.label, nm.pod, nm.containers
	}
}

func (n *netnsNames) lookup(ino uint64) (*netnsfind.Namespace, bool) {
	if n.snap == nil {
		return nil, false
	}
	return n.snap.Lookup(ino)
}

func (n *netnsNames) label(ns *netnsfind.Namespace) dropsNetns {
	if ns.Host {
		return dropsNetns{label: "host"}
	}
	if n.owners != nil {
		if n.resolver == nil {
			n.resolver = owner.NewResolver(*n.owners)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		o := n.resolver.Namespace(ctx, ns)
		cancel()
		var nm dropsNetns
		for _, c := range o.Containers {
			switch {
			case c.Sandbox:
			case c.Name != "":
				nm.containers = append(nm.containers, c.Name)
			case c.ID != "":
				nm.containers = append(nm.containers, c.ID[:min(len(c.ID), 12)])
			}
		}
		switch {
		case o.Pod.Name != "":
			nm.pod = o.Pod.Namespace + "/" + o.Pod.Name
			nm.label = strings.TrimSpace("pod " + nm.pod + " " + strings.Join(nm.containers, ","))
			return nm
		case len(nm.containers) > 0:
			nm.label = "container " + strings.Join(nm.containers, ",")
			return nm
		}
	}
	switch {
	case len(ns.Names) > 0:
		return dropsNetns{label: ns.Names[0]}
	case len(ns.PIDs) > 0:
		pid := ns.PIDs[0]
		b, err := os.ReadFile(filepath.Join(n.procRoot, fmt.Sprint(pid), "comm"))
		if err != nil {
			return dropsNetns{label: fmt.Sprintf("pid %d", pid)}
		}
		return dropsNetns{label: fmt.Sprintf("pid %d %s", pid, strings.TrimSpace(string(b)))}
	}
	return dropsNetns{label: ns.ID.String()}
}
