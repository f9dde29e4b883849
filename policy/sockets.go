package policy

import (
	"cmp"
	"slices"
)

// Socket is one socket behind a socket-level finding (UDP receive buffer and memory, TCP
// accept queue, TCP receive buffer and socket backlog): what the policy read of it, and,
// filled after the policy by the pipeline, who holds it.
type Socket struct {
	Proto  string `json:"proto"`            // "udp" or "tcp"
	Local  string `json:"local"`            // "198.18.0.2:53", "[::]:53"
	Remote string `json:"remote,omitempty"` // a TCP connection's peer: "198.18.0.1:40312"
	Inode  uint64 `json:"inode"`
	// Drops are what the socket dropped in the interval (sk_drops): datagrams, for a
	// listener the connection attempts it refused, for a connection the segments it
	// discarded (0 where the kernel does not say).
	Drops uint64  `json:"drops,omitempty"`
	Rate  float64 `json:"rate,omitempty"` // Drops per second
	// RcvBuf is the receive buffer in bytes (0 = unknown); RcvBufSet whether the
	// application fixed it with SO_RCVBUF (nil = unknown).
	RcvBuf    uint32  `json:"rcvbuf,omitempty"`
	RcvBufSet *bool   `json:"rcvbuf_set,omitempty"`
	Listen    *Listen `json:"listen,omitempty"` // TCP listeners only

	// Who holds the socket (socket inode → processes, their container and pod), named
	// after the policy; empty when no process was found holding it (closed, or not read).
	Processes []SocketProcess `json:"processes,omitempty"`
	Container string          `json:"container,omitempty"` // the container's name, or its ID when unnamed
	Pod       string          `json:"pod,omitempty"`       // "namespace/name"
}

// Listen is a TCP listener's accept queue: the fuller reading of the interval's two
// samples, and its limit, min(the listen() backlog, somaxconn).
type Listen struct {
	AcceptQueue uint32 `json:"accept_queue"`
	Backlog     uint32 `json:"backlog"`
}

// SocketProcess is a process holding a socket.
type SocketProcess struct {
	PID  int    `json:"pid"`
	Comm string `json:"comm"`
}

// MaxSockets bounds the sockets a finding names; Finding.SocketsOmitted counts the rest.
const MaxSockets = 8

// sockets is the sockets an observation names, most drops first, and how many were left out.
type sockets struct {
	list    []Socket
	omitted int
}

// udpSockets names the UDP sockets that dropped in the interval.
func (in *input) udpSockets() sockets {
	var all []Socket
	for _, s := range in.d.UDPSockets {
		if s.Drops == 0 {
			continue
		}
		all = append(all, Socket{Proto: "udp", Local: s.Local, Inode: s.Inode, Drops: s.Drops,
			Rate: in.rate(s.Drops), RcvBuf: s.RcvBuf, RcvBufSet: s.RcvBufSet})
	}
	return bound(all)
}

// connSockets names the TCP connections that dropped in the interval. A connection's count
// does not tell a receive-queue drop from a backlog one (nor from a duplicate segment), so
// the receive-buffer and socket-backlog findings name the same connections.
func (in *input) connSockets() sockets {
	var all []Socket
	for _, c := range in.d.TCPDropping {
		all = append(all, Socket{Proto: "tcp", Local: c.Local, Remote: c.Remote, Inode: c.Inode, Drops: c.Drops,
			Rate: in.rate(c.Drops), RcvBuf: c.RcvBuf, RcvBufSet: c.RcvBufSet})
	}
	return bound(all)
}

// listenerSockets names TCP listeners with their accept queues.
func (in *input) listenerSockets(ls []listenerSeen) sockets {
	all := make([]Socket, 0, len(ls))
	for _, x := range ls {
		all = append(all, Socket{Proto: "tcp", Local: x.ln.Local, Inode: x.ln.Inode, RcvBufSet: x.ln.RcvBufSet,
			Drops: x.drops, Rate: in.rate(x.drops), Listen: &Listen{AcceptQueue: x.queue, Backlog: x.ln.Backlog}})
	}
	return bound(all)
}

// bound sorts sockets by drops, then the fuller accept queue, and keeps MaxSockets.
func bound(all []Socket) sockets {
	slices.SortStableFunc(all, func(a, b Socket) int {
		if c := cmp.Compare(b.Drops, a.Drops); c != 0 {
			return c
		}
		return cmp.Compare(fill(b), fill(a))
	})
	if len(all) <= MaxSockets {
		return sockets{list: all}
	}
	return sockets{list: all[:MaxSockets:MaxSockets], omitted: len(all) - MaxSockets}
}

// fill is a listener's accept queue over its limit, 0 for other sockets.
func fill(s Socket) float64 {
	if s.Listen == nil || s.Listen.Backlog == 0 {
		return 0
	}
	return float64(s.Listen.AcceptQueue) / float64(s.Listen.Backlog)
}

// add joins the sockets another observation of the same place names (TCP receive buffer and
// prune, accept queue and SYN cookies), once each.
func (s *sockets) add(o sockets) {
	s.omitted = max(s.omitted, o.omitted)
	for _, x := range o.list {
		if !slices.ContainsFunc(s.list, func(y Socket) bool {
			return y.Proto == x.Proto && y.Inode == x.Inode && y.Local == x.Local && y.Remote == x.Remote
		}) {
			s.list = append(s.list, x)
		}
	}
	if len(s.list) > MaxSockets {
		b := bound(s.list)
		b.omitted += s.omitted
		*s = b
	}
}
