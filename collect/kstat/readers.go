package kstat

import (
	"errors"
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/nldump"
	"github.com/nettune/nettune/model"
)

// The socket-level readers run from two lists, so that the collector calls each list once:
// netnsReaders on the thread inside the examined namespace, hostReaders from nettune's own
// namespace (the neighbour tables' stat files exist only in the host's). Each reader fills
// its part of the sample; a failure becomes one line of Sample.Errors and leaves that part
// empty.

// Env is what the readers need besides the sample.
type Env struct {
	ProcRoot string
	// Netlink opens a netlink socket on the calling thread (nldump.OpenDumper on the running
	// kernel).
	Netlink nldump.Opener
	// Locks tells which sockets' applications set their buffer sizes (bpf.SockLocks); nil
	// leaves RcvBufSet unknown.
	Locks LockReader
	// Conns and Listeners, when set, are the namespace's connections (those that
	// retransmitted, those that dropped) and listeners as read before and still true for
	// what the policy reads of them (the caller saw no TCP counter that would change them
	// move). They are kept instead of dumped again: a TCP dump walks a host-wide hash table
	// whatever the namespace holds (the established one: about 2 ms per namespace here).
	Conns     *TCPConns
	Listeners *[]model.TCPListener
	// NeighCounts, when set, are the namespace's neighbour counts as read before and still
	// true (the caller saw no packet move in the namespace): kept instead of dumped again.
	NeighCounts map[string]*model.NeighCount
	// Sockstat, when set with HostSockstat, is the namespace's sockstat as read before, its
	// own numbers still true (the caller saw no packet move in the namespace): kept instead
	// of read again, with the host-wide ones (orphans, allocated, memory pools) taken from
	// HostSockstat, the host namespace's read of the same sample.
	Sockstat, HostSockstat *model.Sockstat
	// Files, when set, are the namespace's /proc/net files kept open (a sampler of many
	// namespaces); without, each is opened for its read.
	Files *NetFiles
}

// LockReader reports, for each socket inode of the calling thread's namespace asked about,
// the buffer locks its application set: SOCK_SNDBUF_LOCK (1) after SO_SNDBUF,
// SOCK_RCVBUF_LOCK (2) after SO_RCVBUF, 0 for neither.
type LockReader interface {
	BufferLocks(inodes []uint64) (map[uint64]uint8, error)
}

// sockRcvbufLock is SOCK_RCVBUF_LOCK of include/net/sock.h.
const sockRcvbufLock = 2

type reader struct {
	name string
	read func(s *model.Sample, e *env) error
}

var netnsReaders = []reader{
	{"sockstat", func(s *model.Sample, e *env) (err error) {
		switch {
		case e.Sockstat != nil && e.HostSockstat != nil:
			s.Sockstat = e.Sockstat.WithHostWide(e.HostSockstat)
		case e.Files != nil:
			s.Sockstat, err = e.Files.Sockstat()
		default:
			s.Sockstat, err = ReadSockstat(e.ProcRoot)
		}
		return err
	}},
	{"neighbours", readNetnsNeighbours},
	{"tcp listeners", func(s *model.Sample, e *env) error {
		if e.Listeners != nil {
			s.TCPListeners = *e.Listeners
			return nil
		}
		d, err := e.sockDiag()
		if err == nil {
			s.TCPListeners, err = ReadTCPListeners(d)
		}
		return err
	}},
	{"tcp connections", func(s *model.Sample, e *env) error {
		c := e.Conns
		if c == nil {
			d, err := e.sockDiag()
			if err != nil {
				return err
			}
			read, err := ReadTCPConns(d)
			if err != nil {
				return err
			}
			c = &read
		}
		s.TCPRetrans, s.TCPDropping, s.TCPDroppingOmitted = c.Retrans, c.Dropping, c.DroppingOmitted
		return nil
	}},
	// Last: it marks the UDP sockets, listeners and dropping connections read before it.
	{"buffer locks", readBufferLocks},
}

var hostReaders = []reader{
	{"neighbour tables", func(s *model.Sample, e *env) error {
		tables, err := ReadNeighTables(e.ProcRoot)
		for _, t := range tables {
			nt := neighTable(s, t.Name)
			nt.Entries, nt.Counters = t.Entries, t.Counters
		}
		return err
	}},
}

// ReadNetns runs the namespace's socket-level readers into s (sockstat, neighbour counts,
// TCP listeners and the connections that retransmitted or dropped, and the buffer locks of
// the UDP sockets, listeners and dropping connections). Call it on a thread inside the
// namespace. It returns one line per reader that failed.
func ReadNetns(s *model.Sample, e Env) []string {
	return run(netnsReaders, s, e)
}

// ReadHost runs the host-wide socket-level readers into s (the neighbour tables' stat files).
// Call it from a thread in the host namespace.
func ReadHost(s *model.Sample, e Env) []string {
	return run(hostReaders, s, e)
}

func run(readers []reader, s *model.Sample, e Env) []string {
	en := &env{Env: e}
	defer en.close()
	var errs []string
	for _, r := range readers {
		if err := r.read(s, en); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", r.name, err))
		}
	}
	return errs
}

// env opens each netlink socket once per run, on the calling thread.
type env struct {
	Env
	diag, route nldump.Dumper
}

func (e *env) sockDiag() (nldump.Dumper, error) { return e.open(&e.diag, unix.NETLINK_SOCK_DIAG) }
func (e *env) rtnl() (nldump.Dumper, error)     { return e.open(&e.route, unix.NETLINK_ROUTE) }

func (e *env) open(d *nldump.Dumper, proto int) (nldump.Dumper, error) {
	if *d == nil {
		if e.Netlink == nil {
			return nil, errors.New("no netlink")
		}
		c, err := e.Netlink(proto)
		if err != nil {
			return nil, fmt.Errorf("netlink socket: %w", err)
		}
		*d = c
	}
	return *d, nil
}

func (e *env) close() {
	for _, d := range []nldump.Dumper{e.diag, e.route} {
		if d != nil {
			d.Close()
		}
	}
}

// neighTable returns s's table name, added if missing.
func neighTable(s *model.Sample, name string) *model.NeighTable {
	i := slices.IndexFunc(s.Neigh, func(t model.NeighTable) bool { return t.Name == name })
	if i < 0 {
		s.Neigh = append(s.Neigh, model.NeighTable{Name: name})
		i = len(s.Neigh) - 1
	}
	return &s.Neigh[i]
}

// readNetnsNeighbours counts the namespace's neighbours of each table.
func readNetnsNeighbours(s *model.Sample, e *env) error {
	if e.NeighCounts != nil {
		for _, t := range neighTables {
			if n := e.NeighCounts[t.name]; n != nil {
				neighTable(s, t.name).NetnsEntries = n
			}
		}
		return nil
	}
	d, err := e.rtnl()
	if err != nil {
		return err
	}
	for _, t := range neighTables {
		n, err := CountNeighbours(d, t.family)
		if err != nil {
			return err
		}
		neighTable(s, t.name).NetnsEntries = &n
	}
	return nil
}

// readBufferLocks sets RcvBufSet on the UDP sockets, listeners and dropping connections of s.
func readBufferLocks(s *model.Sample, e *env) error {
	n := len(s.UDPSockets) + len(s.TCPListeners) + len(s.TCPDropping)
	if e.Locks == nil || n == 0 {
		return nil
	}
	inodes := make([]uint64, 0, n)
	for _, u := range s.UDPSockets {
		inodes = append(inodes, u.Inode)
	}
	for _, l := range s.TCPListeners {
		inodes = append(inodes, l.Inode)
	}
	for _, c := range s.TCPDropping {
		inodes = append(inodes, c.Inode)
	}
	locks, err := e.Locks.BufferLocks(inodes)
	if err != nil {
		return err
	}
	set := func(inode uint64) *bool {
		l, ok := locks[inode]
		if !ok {
			return nil
		}
		v := l&sockRcvbufLock != 0
		return &v
	}
	for i := range s.UDPSockets {
		s.UDPSockets[i].RcvBufSet = set(s.UDPSockets[i].Inode)
	}
	for i := range s.TCPListeners {
		s.TCPListeners[i].RcvBufSet = set(s.TCPListeners[i].Inode)
	}
	for i := range s.TCPDropping {
		s.TCPDropping[i].RcvBufSet = set(s.TCPDropping[i].Inode)
	}
	return nil
}
