package render

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nettune/nettune/policy"
)

// verdictWhere is where the verdict says a finding's packets are lost: its place, and for a
// socket-level finding who lost them — the pod, then the container, the process and the
// socket that dropped most (issue 13: "lost at udp-rcvbuf in pod default/dns-0 (container
// coredns, pid 4242 coredns, udp 0.0.0.0:53)"). A named pod stands for the netns.
func verdictWhere(f policy.Finding) string {
	if len(f.Sockets) == 0 {
		return whereOf(f)
	}
	s := f.Sockets[0]
	in := ""
	if s.Pod != "" {
		in = " in pod " + s.Pod
		f.Netns = ""
	}
	parts := append(whereParts(f), socketOwnerParts(s)...)
	sock := socketName(s)
	if n := len(f.Sockets) - 1 + f.SocketsOmitted; n > 0 {
		sock += " and " + plural(uint64(n), "more socket", "more sockets")
	}
	return in + " (" + strings.Join(append(parts, sock), ", ") + ")"
}

// socketName is a socket's protocol and local address, and for a connection the peer its
// data came from: "tcp 198.18.0.2:5201 ← 198.18.0.1:40312".
func socketName(s policy.Socket) string {
	if s.Remote == "" {
		return s.Proto + " " + s.Local
	}
	return s.Proto + " " + s.Local + " ← " + s.Remote
}

// socketOwnerParts names who holds a socket: "container coredns", "pid 4242 coredns" (or
// "pids 4242 coredns, 4243 coredns" and how many more).
func socketOwnerParts(s policy.Socket) []string {
	var parts []string
	if s.Container != "" {
		parts = append(parts, "container "+s.Container)
	}
	const named = 2
	var ps []string
	for _, p := range s.Processes[:min(len(s.Processes), named)] {
		ps = append(ps, strconv.Itoa(p.PID)+" "+p.Comm)
	}
	switch {
	case len(ps) == 1:
		parts = append(parts, "pid "+ps[0])
	case len(ps) > 1:
		more := ""
		if n := len(s.Processes) - named; n > 0 {
			more = fmt.Sprintf(" and %d more", n)
		}
		parts = append(parts, "pids "+strings.Join(ps, ", ")+more)
	}
	return parts
}

// socketLines are a finding's sockets for its evidence: the socket, what it dropped, its
// buffer or accept queue; then who holds it, when that is known.
func socketLines(f policy.Finding) []string {
	lines := make([]string, 0, len(f.Sockets)+1)
	for _, s := range f.Sockets {
		var what []string
		if s.Drops > 0 {
			what = append(what, plural(s.Drops, "drop", "drops"))
		}
		if s.Listen != nil {
			what = append(what, fmt.Sprintf("accept queue %s of %s", countN(uint64(s.Listen.AcceptQueue)), countN(uint64(s.Listen.Backlog))))
		}
		if s.RcvBuf > 0 {
			what = append(what, "rcvbuf "+countN(uint64(s.RcvBuf))+" B")
		}
		switch {
		case s.RcvBufSet == nil:
		case *s.RcvBufSet:
			what = append(what, "SO_RCVBUF set by the application")
		default:
			what = append(what, "SO_RCVBUF not set")
		}
		line := socketName(s)
		if len(what) > 0 {
			line += ": " + strings.Join(what, ", ")
		}
		who := socketOwnerParts(s)
		if s.Pod != "" {
			who = append(who, "pod "+s.Pod)
		}
		if len(who) > 0 {
			line += "; " + strings.Join(who, ", ")
		}
		lines = append(lines, line)
	}
	if f.SocketsOmitted > 0 {
		lines = append(lines, plural(uint64(f.SocketsOmitted), "more socket", "more sockets")+" not listed")
	}
	return lines
}

// peerLine is the other end of the veth a finding is on: "host veth vethab12 (ifindex 7)",
// "veth eth0 (ifindex 2) in pod default/dns-0", "veth eth0 (ifindex 2) in netns PATH".
func peerLine(p *policy.LinkPeer) string {
	if p.Host {
		return fmt.Sprintf("host veth %s (ifindex %d)", p.Interface, p.Ifindex)
	}
	s := fmt.Sprintf("veth %s (ifindex %d) in ", p.Interface, p.Ifindex)
	if p.Pod != "" {
		return s + "pod " + p.Pod
	}
	return s + "netns " + p.Netns
}
