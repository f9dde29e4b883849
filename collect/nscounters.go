package collect

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/nettune/nettune/collect/kstat"
	"github.com/nettune/nettune/collect/netdev"
	"github.com/nettune/nettune/collect/nft"
	"github.com/nettune/nettune/internal/nldump"
	"github.com/nettune/nettune/model"
)

// nsSockets are the netlink and ethtool sockets of one namespace's reads. A socket stays in
// the namespace it was opened in, so after the first sample they are used from any thread.
type nsSockets struct {
	reader *netdev.Reader
	nft    *nft.Reader
	// kept are the sock_diag and rtnetlink sockets of the socket readers when they are kept
	// (keptOpener), by protocol.
	kept map[int]*keptDumper
	// keepFiles keeps the SNMP files (snmp) and the other /proc/net files (files) open too,
	// for a sampler that leaves the namespace between samples.
	keepFiles bool
	snmp      *kstat.SNMPFiles
	files     *kstat.NetFiles
	// linkAttrsFor is how long a namespace in which nothing moved goes on with its links'
	// attributes (names, MTU, queues, state) from its last link dump: until then it reads
	// its links' counters alone (netdev.Reader.Stats), which tell whether anything moved at
	// a fraction of a dump's cost. A node sets its settings period; 0 dumps every sample.
	linkAttrsFor time.Duration
}

// keptOpener opens each protocol's socket once and hands it out again: the socket readers
// otherwise open, and allocate a receive buffer for, a socket per protocol every sample, which
// costs more than the dumps of a quiet namespace. A dump that fails closes its socket, so a
// half-read answer never meets the next request; the next open makes a new one.
func (n *nsSockets) keptOpener(open nldump.Opener) nldump.Opener {
	return func(proto int) (nldump.Dumper, error) {
		if d, ok := n.kept[proto]; ok && d.d != nil {
			return d, nil
		}
		d, err := open(proto)
		if err != nil {
			return nil, err
		}
		if n.kept == nil {
			n.kept = map[int]*keptDumper{}
		}
		k := &keptDumper{d: d}
		n.kept[proto] = k
		return k, nil
	}
}

// keptDumper is a kept socket: Close leaves it open for the next sample.
type keptDumper struct{ d nldump.Dumper }

var errClosed = errors.New("netlink socket closed after a failed dump")

func (k *keptDumper) Dump(typ uint16, body []byte, fn func([]byte) error) (bool, error) {
	if k.d == nil {
		return false, errClosed
	}
	interrupted, err := k.d.Dump(typ, body, fn)
	if err != nil {
		k.shut()
	}
	return interrupted, err
}

func (k *keptDumper) Close() error { return nil }

func (k *keptDumper) shut() {
	if k.d != nil {
		k.d.Close()
		k.d = nil
	}
}

// readCounters reads the namespace's own counters into s, back to back so they describe the
// same instant: links (only those named, or all), SNMP, UDP sockets, the links' qdiscs and
// ethtool data, the probes, conntrack, the firewall and the socket-level readers. Call it on
// a thread inside the namespace (the /proc/thread-self/net files are looked up there). Only
// a failed link dump fails it; every other reader that fails is a line of s.Errors. With prev (the namespace's earlier reads), the socket dumps
// whose counters did not move are not read again (nsPrev).
func (n *nsSockets) readCounters(s *model.Sample, links []string, k Kernel, env kstat.Env, prev *nsPrev, inPath InPathSource) error {
	if n.reader == nil {
		r, err := netdev.OpenWith(k.Netlink, k.Ethtool)
		if err != nil {
			return fmt.Errorf("open netlink: %w", err)
		}
		n.reader = r
	}
	s.Time = k.Now()
	var err error
	linksStill, dumped := false, false
	if len(links) == 0 && prev.attrsFresh(s.Time, n.linkAttrsFor) {
		if stats, err := n.reader.Stats(); err == nil { // on failure the dump below says why
			s.Links, linksStill = prev.statsStill(stats)
		}
	}
	if !linksStill {
		if s.Links, err = n.reader.Dump(links); err != nil {
			return err
		}
		linksStill, dumped = prev.linksStill(s), true
	}
	if s.SNMP, err = n.readSNMP(env.ProcRoot, linksStill); err != nil {
		s.Errors = append(s.Errors, fmt.Sprintf("snmp: %v", err))
	}
	// The sockets' drops are set against the SNMP counters (a shortfall makes udp-rcvbuf
	// propose both buffer knobs, an excess is udp-mem's): read them right after, or the
	// readers between, slower at a first sample, skew the two intervals apart. On a
	// sock_diag failure the sockets are still kept (from /proc/net/udp), without their
	// receive buffers.
	if prev.keep(s, &env) {
		s.UDPSockets = slices.Clone(prev.udp) // the buffer-lock reader marks them in place
	} else if s.UDPSockets, err = kstat.ReadUDPSockets(env.ProcRoot, env.Netlink); err != nil {
		s.Errors = append(s.Errors, fmt.Sprintf("udp sockets: %v", err))
	}
	quiet := linksStill && n.snmp != nil && n.snmp.Unchanged()
	if quiet {
		prev.settle(s.Links)
	} else {
		if !dumped { // the links stood still, the IP layer did not: read them whole
			if s.Links, err = n.reader.Dump(links); err != nil {
				return err
			}
			dumped = true
		}
		s.Links, err = n.reader.Complete(s.Links, len(links) > 0)
		var partial *netdev.PartialError
		switch {
		case errors.As(err, &partial):
			for _, e := range partial.Errs { // a driver that refused one ethtool call
				s.Errors = append(s.Errors, e.Error())
			}
		case err != nil:
			return err
		}
	}
	// The probes' counts are divided by the counters above: read them at the same
	// instant. Read after the slower readers below (a first sample also reads the
	// settings), their interval was shorter than the counters' one in the kernel matrix's
	// emulated guests, and a tbf shaper at its rate looked unsaturated.
	if inPath != nil {
		if s.InPath, err = inPath.Snapshot(); err != nil {
			s.Errors = append(s.Errors, fmt.Sprintf("in-path probes: %v", err))
		}
	}
	if n.keepFiles && n.files == nil {
		n.files = kstat.NewNetFiles(env.ProcRoot)
	}
	env.Files = n.files
	switch {
	case quiet:
		s.Conntrack = prev.conntrack
		env.NeighCounts = prev.neigh
		env.Sockstat = prev.sockstat
	case n.files != nil:
		s.Conntrack, err = n.files.Conntrack()
	default:
		s.Conntrack, err = kstat.ReadConntrack(env.ProcRoot)
	}
	if err != nil {
		s.Errors = append(s.Errors, fmt.Sprintf("conntrack: %v", err))
	}
	// The namespace's firewall: which rule dropped, and its counters (a ruleset that may
	// not be read says why in Firewall.Unreadable).
	if n.nft == nil {
		n.nft = nft.NewReader(k.Netlink)
	}
	if quiet {
		s.Firewall = prev.firewall
	} else if s.Firewall, err = n.nft.Read(); err != nil {
		s.Errors = append(s.Errors, err.Error())
	}
	s.Errors = append(s.Errors, kstat.ReadNetns(s, env)...)
	prev.record(s, quiet, dumped)
	return nil
}

// readSNMP reads the SNMP counters; with kept files and links that counted nothing since the
// last sample (idle), from snmp alone when it did not change (SNMPFiles.ReadIdle).
func (n *nsSockets) readSNMP(procRoot string, idle bool) (map[string]uint64, error) {
	if !n.keepFiles {
		return kstat.ReadSNMP(procRoot)
	}
	if n.snmp == nil {
		f, err := kstat.OpenSNMP(procRoot)
		if err != nil {
			return nil, err
		}
		n.snmp = f
	}
	if idle {
		return n.snmp.ReadIdle()
	}
	return n.snmp.Read()
}

func (n *nsSockets) close() {
	if n.snmp != nil {
		n.snmp.Close()
		n.snmp = nil
	}
	if n.files != nil {
		n.files.Close()
		n.files = nil
	}
	if n.reader != nil {
		n.reader.Close()
		n.reader = nil
	}
	if n.nft != nil {
		n.nft.Close()
		n.nft = nil
	}
	for proto, d := range n.kept {
		d.shut()
		delete(n.kept, proto)
	}
}

// nsPrev is what a namespace's earlier sample read of the socket dumps that walk host-wide
// hash tables (UDP sockets, TCP listeners and connections), with the SNMP counters that move
// whenever what the policy reads of them changes. When those counters have not moved since
// (or are all zero at a namespace's first sample), the earlier list is kept instead of
// dumped: Diff then finds no socket dropped and no connection retransmitted, which is true
// of what the rules read. (A connection's drop count also counts duplicates and segments
// outside the window, which none of those counters follows: such drops while the list is
// kept are counted in the next interval that dumps it.)
// Gauges in a kept list (queue lengths, buffer sizes) are as old as the list; they are read
// only as evidence next to drops, and drops make the list read again.
//
// A namespace in which nothing moved at all — every link's counters as before (no packet
// reached or left an interface, loopback included, so no firewall rule, conntrack entry or
// neighbour lookup saw one) and its snmp text as before (nothing at the IP layer) — keeps its
// conntrack counters, firewall and neighbour counts too, and its links' qdiscs and ethtool
// data (a qdisc counts only packets sent, which the IP layer or the links count too; only a
// packet socket's frames that a qdisc dropped, every one, would go unseen until something
// moves), and its netstat and snmp6 are not read (SNMPFiles.ReadIdle). Its sockstat keeps
// the namespace's own numbers (socket, TIME_WAIT and fragment counts, which no rule reads)
// and takes the host-wide memory pools from the host's read of the same sample
// (kstat.Env.HostSockstat). At its next sample it reads its links' counters alone
// (statsStill); when they stood still its links keep the attributes of its last link dump,
// for nsSockets.linkAttrsFor at most. A clean read with no error is needed to start keeping.
type nsPrev struct {
	read      bool
	counters  map[string]uint64
	udp       []model.UDPSocket
	listeners []model.TCPListener
	conns     kstat.TCPConns

	snmp map[string]uint64 // the map counters were recorded from

	clean     bool               // the last sample had no reader error
	quiet     bool               // nothing moved at the last sample
	linksAt   time.Time          // when the links were last dumped
	links     map[int]model.Link // by ifindex: counters, qdiscs and ethtool data
	conntrack map[string]uint64
	firewall  *model.Firewall
	neigh     map[string]*model.NeighCount
	sockstat  *model.Sockstat
}

// attrsFresh: nothing moved at the last clean sample, whose links were dumped less than
// every ago.
func (p *nsPrev) attrsFresh(now time.Time, every time.Duration) bool {
	return p != nil && p.read && p.clean && p.quiet && now.Sub(p.linksAt) < every
}

// statsStill returns the links of the last clean sample when stats are their counters: the
// same links, every counter as it was. They share their lists with that sample until settle
// copies them.
func (p *nsPrev) statsStill(stats []netdev.LinkCounters) ([]model.Link, bool) {
	if p == nil || !p.read || !p.clean || len(stats) != len(p.links) {
		return nil, false
	}
	links := make([]model.Link, len(stats))
	for i, c := range stats {
		old, ok := p.links[c.Index]
		if !ok || old.Stats != c.Stats {
			return nil, false
		}
		links[i] = old
	}
	return links, true
}

// linksStill: the namespace's links and their counters are those of the last clean sample.
func (p *nsPrev) linksStill(s *model.Sample) bool {
	if p == nil || !p.read || !p.clean || len(s.Links) != len(p.links) {
		return false
	}
	for _, l := range s.Links {
		if old, ok := p.links[l.Index]; !ok || old.Stats != l.Stats {
			return false
		}
	}
	return true
}

// settle gives the links of a namespace in which nothing moved the qdiscs and ethtool data
// of its last clean sample (copies: samples do not share them).
func (p *nsPrev) settle(links []model.Link) {
	for i := range links {
		l, old := &links[i], p.links[links[i].Index]
		l.Driver, l.Ring, l.Channels = old.Driver, old.Ring, old.Channels
		l.Counters, l.Qdiscs = slices.Clone(old.Counters), slices.Clone(old.Qdiscs)
	}
}

// The counters of each kept list: every UDP socket drop counts an InErrors, every accept
// queue drop ListenDrops (and an overflow ListenOverflows), every retransmission RetransSegs,
// and every connection drop the tcp-rcvbuf and tcp-backlog rules read one of their counters
// (policy/rules_tcp.go: tcpRcvDropFields, TCPBacklogDrop).
var (
	udpDropKeys = []string{"Udp.InErrors", "Udp6.InErrors", "UdpLite.InErrors", "UdpLite6.InErrors"}
	listenKeys  = []string{"TcpExt.ListenOverflows", "TcpExt.ListenDrops"}
	connKeys    = []string{"Tcp.RetransSegs", "TcpExt.TCPRcvQDrop", "TcpExt.RcvPruned", "TcpExt.OfoPruned",
		"TcpExt.TCPOFODrop", "TcpExt.TCPZeroWindowDrop", "TcpExt.TCPBacklogDrop"}
)

// keep sets env to keep the TCP lists whose counters stood still and reports whether the
// UDP sockets' list stays too. A nil nsPrev keeps nothing.
func (p *nsPrev) keep(s *model.Sample, env *kstat.Env) (udp bool) {
	if p == nil || s.SNMP == nil {
		return false
	}
	// The map the counters were recorded from (SNMPFiles returns it again while the text is
	// the same) has every counter as recorded.
	same := p.read && sameMap(s.SNMP, p.snmp)
	// Copies: the samples must not share what a reader marks in place.
	if same || p.still(s, listenKeys) {
		l := slices.Clone(p.listeners)
		env.Listeners = &l
	}
	if same || p.still(s, connKeys) {
		env.Conns = &kstat.TCPConns{Retrans: slices.Clone(p.conns.Retrans), Dropping: slices.Clone(p.conns.Dropping),
			DroppingOmitted: p.conns.DroppingOmitted}
	}
	return same || p.still(s, udpDropKeys)
}

func sameMap(a, b map[string]uint64) bool {
	return a != nil && reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// still: every key has its earlier value, or is zero at the first read.
func (p *nsPrev) still(s *model.Sample, keys []string) bool {
	for _, k := range keys {
		if s.SNMP[k] != p.counters[k] {
			return false
		}
	}
	return true
}

// record keeps this sample's lists and counters for the next one: quiet, nothing moved in
// it; dumped, its links were dumped (not only their counters read).
func (p *nsPrev) record(s *model.Sample, quiet, dumped bool) {
	if p == nil {
		return
	}
	if s.SNMP == nil { // nothing to compare with next time
		*p = nsPrev{}
		return
	}
	if p.counters == nil {
		p.counters = map[string]uint64{}
	}
	if !p.read || !sameMap(s.SNMP, p.snmp) {
		for _, keys := range [][]string{udpDropKeys, listenKeys, connKeys} {
			for _, k := range keys {
				p.counters[k] = s.SNMP[k]
			}
		}
	}
	p.read, p.snmp, p.udp, p.listeners = true, s.SNMP, s.UDPSockets, s.TCPListeners
	p.conns = kstat.TCPConns{Retrans: s.TCPRetrans, Dropping: s.TCPDropping, DroppingOmitted: s.TCPDroppingOmitted}
	p.clean = len(s.Errors) == 0
	p.quiet = quiet
	if dumped {
		p.linksAt = s.Time
	}
	if p.links == nil {
		p.links = make(map[int]model.Link, len(s.Links))
	}
	clear(p.links)
	for _, l := range s.Links {
		p.links[l.Index] = l
	}
	p.conntrack, p.firewall, p.sockstat = s.Conntrack, s.Firewall, s.Sockstat
	p.neigh = map[string]*model.NeighCount{}
	for _, t := range s.Neigh {
		if t.NetnsEntries != nil {
			p.neigh[t.Name] = t.NetnsEntries
		}
	}
}
