package pipeline

import (
	"context"

	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/policy"
)

// nameSocketOwners names who holds the sockets of the report's findings: the processes
// whose descriptor tables hold the socket (owner.SocketOwners over pids; every process under
// procRoot when pids is nil or none of them holds it), then their comm, container and pod (owner.Resolver). Only the
// few sockets findings name are looked up, and only when there are some, so a quiet interval
// costs nothing. A socket no process holds any more keeps no owner. newResolver is called
// at most once, when some socket has a holder.
func nameSocketOwners(ctx context.Context, r *policy.Report, procRoot string, pids []int, newResolver func() *owner.Resolver) {
	var inodes []uint64
	for _, f := range r.Findings {
		for _, s := range f.Sockets {
			if s.Inode != 0 {
				inodes = append(inodes, s.Inode)
			}
		}
	}
	if len(inodes) == 0 {
		return
	}
	if procRoot == "" {
		procRoot = "/proc"
	}
	held, err := socketHolders(procRoot, pids, inodes)
	if err != nil {
		r.Missing = append(r.Missing, "socket owners: "+err.Error())
		return
	}
	var resolver *owner.Resolver
	for i := range r.Findings {
		for j := range r.Findings[i].Sockets {
			s := &r.Findings[i].Sockets[j]
			if ps := held[s.Inode]; len(ps) > 0 {
				if resolver == nil {
					resolver = newResolver()
				}
				nameSocket(s, resolver.Processes(ctx, ps))
			}
		}
	}
}

// socketHolders finds the processes holding the sockets among pids first (the namespace's
// own processes), then, for the sockets none of them holds, among every process: a socket
// belongs to the namespace it was created in, and a process may create it there from a
// thread that entered the namespace and keep it after leaving (ip netns exec, nsenter, a
// runtime's helper).
func socketHolders(procRoot string, pids []int, inodes []uint64) (map[uint64][]int, error) {
	held, err := owner.SocketOwners(procRoot, pids, inodes)
	if err != nil || pids == nil {
		return held, err
	}
	var rest []uint64
	for _, ino := range inodes {
		if len(held[ino]) == 0 {
			rest = append(rest, ino)
		}
	}
	if len(rest) == 0 {
		return held, nil
	}
	more, err := owner.SocketOwners(procRoot, nil, rest)
	for ino, ps := range more {
		held[ino] = ps
	}
	return held, err
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
