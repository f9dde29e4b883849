package pipeline

import (
	"context"

	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/policy"
)

// socketScope is a report whose findings' sockets are to be named, and the processes of its
// namespace, which are asked first (nil: none known, every process is asked).
type socketScope struct {
	report *policy.Report
	pids   []int
}

// nameSocketOwners names who holds the sockets of the reports' findings: the processes whose
// descriptor tables hold the socket (owner.SocketOwners), then their comm, container and
// pod (owner.Resolver). Each namespace's own processes are asked first; the sockets none of
// them holds are looked for in every process, in one scan for all the reports: a socket
// stays in the namespace it was made in when the process that holds it leaves it (ip netns
// exec, nsenter, a runtime's helper), and a namespace held only by a bind mount has no
// process at all. Only the few sockets findings name are looked up, and only when there are
// some, so a quiet interval reads nothing. A socket no process holds any more keeps no
// owner. newResolver is called at most once, when some socket has a holder.
func nameSocketOwners(ctx context.Context, scopes []socketScope, procRoot string, newResolver func() *owner.Resolver) {
	if procRoot == "" {
		procRoot = "/proc"
	}
	held := map[uint64][]int{}
	var rest []uint64
	for _, sc := range scopes {
		inodes := socketInodes(sc.report)
		if len(inodes) == 0 {
			continue
		}
		if len(sc.pids) > 0 {
			found, _ := owner.SocketOwners(procRoot, sc.pids, inodes) // fails only listing every process
			for ino, ps := range found {
				held[ino] = ps // socket inodes are unique on the host
			}
		}
		for _, ino := range inodes {
			if len(held[ino]) == 0 {
				rest = append(rest, ino)
			}
		}
	}
	if len(rest) > 0 {
		found, err := owner.SocketOwners(procRoot, nil, rest)
		for ino, ps := range found {
			held[ino] = ps
		}
		if err != nil {
			for _, sc := range scopes {
				if len(socketInodes(sc.report)) > 0 {
					sc.report.Missing = append(sc.report.Missing, "socket owners: "+err.Error())
				}
			}
		}
	}
	var resolver *owner.Resolver
	for _, sc := range scopes {
		for i := range sc.report.Findings {
			for j := range sc.report.Findings[i].Sockets {
				s := &sc.report.Findings[i].Sockets[j]
				if ps := held[s.Inode]; len(ps) > 0 {
					if resolver == nil {
						resolver = newResolver()
					}
					nameSocket(s, resolver.Processes(ctx, ps))
				}
			}
		}
	}
}

// socketInodes are the inodes of the sockets the report's findings name.
func socketInodes(r *policy.Report) []uint64 {
	var inodes []uint64
	for _, f := range r.Findings {
		for _, s := range f.Sockets {
			if s.Inode != 0 {
				inodes = append(inodes, s.Inode)
			}
		}
	}
	return inodes
}

// nameSocket copies what an owner says into the socket: its processes, the container of the
// first one, and the pod.
func nameSocket(s *policy.Socket, o owner.Owner) {
	s.Processes = make([]policy.SocketProcess, 0, len(o.Processes))
	for _, p := range o.Processes {
		s.Processes = append(s.Processes, policy.SocketProcess{PID: p.PID, Comm: p.Comm})
	}
	if len(o.Processes) > 0 {
		if c, ok := o.ContainerOf(o.Processes[0]); ok {
			s.Container = c.Name
			if s.Container == "" {
				s.Container = shortID(c.ID)
			}
		}
	}
	if o.Pod.Name != "" {
		s.Pod = o.Pod.Namespace + "/" + o.Pod.Name
	}
}

// shortID is a container ID as runtimes' tools print it (12 characters).
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
