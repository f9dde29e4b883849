package kstat

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/model"
)

// fakeLocks answers BufferLocks from a map, recording what it was asked.
type fakeLocks struct {
	locks map[uint64]uint8
	asked []uint64
	err   error
}

func (f *fakeLocks) BufferLocks(inodes []uint64) (map[uint64]uint8, error) {
	f.asked = inodes
	if f.err != nil {
		return nil, f.err
	}
	out := map[uint64]uint8{}
	for _, i := range inodes {
		out[i] = f.locks[i]
	}
	return out, nil
}

func TestReadNetnsAndHost(t *testing.T) {
	diag, route := tcpReplay(t), neighReplay(t)
	locks := &fakeLocks{locks: map[uint64]uint8{23126439: sockRcvbufLock, 42: sockRcvbufLock | 1, 43: 1, 25525211: sockRcvbufLock}}
	s := &model.Sample{UDPSockets: []model.UDPSocket{{Inode: 42}, {Inode: 43}, {Inode: 44}}}
	env := Env{ProcRoot: "testdata/sockstat-6.18/proc", Locks: locks,
		Netlink: opener(map[int]*replay{unix.NETLINK_SOCK_DIAG: diag, unix.NETLINK_ROUTE: route})}
	if errs := ReadNetns(s, env); errs != nil {
		t.Fatal(errs)
	}
	if s.Sockstat == nil || s.Sockstat.TCPInUse != 53 {
		t.Errorf("sockstat %+v", s.Sockstat)
	}
	if len(s.TCPListeners) != 5 || len(s.TCPRetrans) != 4 || len(s.TCPDropping) != 4 {
		t.Errorf("%d listeners, %d retransmitting and %d dropping connections", len(s.TCPListeners), len(s.TCPRetrans), len(s.TCPDropping))
	}
	if !diag.closed || !route.closed || len(diag.dumps) != 4 || len(route.dumps) != 2 {
		t.Errorf("sock_diag dumps %v closed %v, rtnetlink dumps %v closed %v", diag.dumps, diag.closed, route.dumps, route.closed)
	}
	// Buffer locks: asked once for the UDP sockets, listeners and dropping connections,
	// SO_SNDBUF alone is no SO_RCVBUF.
	if len(locks.asked) != 3+5+4 {
		t.Errorf("locks asked for %v", locks.asked)
	}
	for _, u := range s.UDPSockets {
		if u.RcvBufSet == nil || *u.RcvBufSet != (u.Inode == 42) {
			t.Errorf("udp socket %d: rcvbuf set %v", u.Inode, u.RcvBufSet)
		}
	}
	for _, l := range s.TCPListeners {
		if l.RcvBufSet == nil || *l.RcvBufSet != (l.Inode == 23126439) {
			t.Errorf("listener %s: rcvbuf set %v", l.Local, l.RcvBufSet)
		}
	}
	for _, c := range s.TCPDropping {
		if c.RcvBufSet == nil || *c.RcvBufSet != (c.Inode == 25525211) {
			t.Errorf("connection %s ← %s: rcvbuf set %v", c.Local, c.Remote, c.RcvBufSet)
		}
	}

	// The host's stat files complete the tables the namespace's counts opened.
	env.ProcRoot = "testdata/neigh-6.18/proc"
	if errs := ReadHost(s, env); errs != nil {
		t.Fatal(errs)
	}
	want := []model.NeighTable{
		{Name: "arp_cache", Entries: 0xa, NetnsEntries: &model.NeighCount{Total: 5, Permanent: 1, Unresolved: 2}},
		{Name: "ndisc_cache", Entries: 0xf, NetnsEntries: &model.NeighCount{Total: 9, Unresolved: 1}},
	}
	for i := range s.Neigh {
		if s.Neigh[i].Counters["allocs"] == 0 {
			t.Errorf("%s: counters %v", s.Neigh[i].Name, s.Neigh[i].Counters)
		}
		s.Neigh[i].Counters = nil
	}
	if !reflect.DeepEqual(s.Neigh, want) {
		t.Errorf("neighbour tables %+v", s.Neigh)
	}
}

// Each reader fails alone, with one line, and the rest of the sample stays.
func TestReadNetnsFailures(t *testing.T) {
	s := &model.Sample{UDPSockets: []model.UDPSocket{{Inode: 42}}}
	env := Env{ProcRoot: t.TempDir(), Locks: &fakeLocks{err: errors.New("no btf")},
		Netlink: opener(map[int]*replay{unix.NETLINK_SOCK_DIAG: tcpReplay(t)})}
	errs := ReadNetns(s, env)
	var names []string
	for _, e := range errs {
		name, _, _ := strings.Cut(e, ":")
		names = append(names, name)
	}
	if !slices.Equal(names, []string{"sockstat", "neighbours", "buffer locks"}) {
		t.Errorf("errors %q", errs)
	}
	if s.Sockstat != nil || s.Neigh != nil || len(s.TCPListeners) != 5 || s.UDPSockets[0].RcvBufSet != nil {
		t.Errorf("sample %+v", s)
	}

	// Without a lock reader the locks stay unknown, silently.
	s = &model.Sample{UDPSockets: []model.UDPSocket{{Inode: 42}}}
	env = Env{ProcRoot: "testdata/sockstat-6.18/proc"}
	errs = ReadNetns(s, env)
	if len(errs) != 3 || s.UDPSockets[0].RcvBufSet != nil { // no netlink: three readers
		t.Errorf("errors %q, udp socket %+v", errs, s.UDPSockets[0])
	}
}
