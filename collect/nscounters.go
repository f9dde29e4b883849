package collect

import (
	"errors"
	"fmt"

	"github.com/nettune/nettune/collect/kstat"
	"github.com/nettune/nettune/collect/netdev"
	"github.com/nettune/nettune/collect/nft"
	"github.com/nettune/nettune/model"
)

// nsSockets are the netlink and ethtool sockets of one namespace's reads. A socket stays in
// the namespace it was opened in, so after the first sample they are used from any thread.
type nsSockets struct {
	reader *netdev.Reader
	nft    *nft.Reader
}

// readCounters reads the namespace's own counters into s, back to back so they describe the
// same instant: links (only those named, or all) and qdiscs, SNMP, conntrack, the firewall, UDP sockets and the
// socket-level readers. Call it on a thread inside the namespace (the /proc/thread-self/net
// files are looked up there). Only a failed link dump fails it; every other reader that
// fails is a line of s.Errors.
func (n *nsSockets) readCounters(s *model.Sample, links []string, k Kernel, env kstat.Env) error {
	if n.reader == nil {
		r, err := netdev.OpenWith(k.Netlink, k.Ethtool)
		if err != nil {
			return fmt.Errorf("open netlink: %w", err)
		}
		n.reader = r
	}
	s.Time = k.Now()
	var err error
	s.Links, err = n.reader.Links(links)
	var partial *netdev.PartialError
	switch {
	case errors.As(err, &partial):
		for _, e := range partial.Errs { // a driver that refused one ethtool call
			s.Errors = append(s.Errors, e.Error())
		}
	case err != nil:
		return err
	}
	if s.SNMP, err = kstat.ReadSNMP(env.ProcRoot); err != nil {
		s.Errors = append(s.Errors, fmt.Sprintf("snmp: %v", err))
	}
	if s.Conntrack, err = kstat.ReadConntrack(env.ProcRoot); err != nil {
		s.Errors = append(s.Errors, fmt.Sprintf("conntrack: %v", err))
	}
	// The namespace's firewall: which rule dropped, and its counters (a ruleset that may
	// not be read says why in Firewall.Unreadable).
	if n.nft == nil {
		n.nft = nft.NewReader(k.Netlink)
	}
	if s.Firewall, err = n.nft.Read(); err != nil {
		s.Errors = append(s.Errors, err.Error())
	}
	// Per-socket drops go with Udp.RcvbufErrors; on a sock_diag failure the sockets are
	// still kept (from /proc/net/udp), without their receive buffers.
	if s.UDPSockets, err = kstat.ReadUDPSockets(env.ProcRoot, k.Netlink); err != nil {
		s.Errors = append(s.Errors, fmt.Sprintf("udp sockets: %v", err))
	}
	s.Errors = append(s.Errors, kstat.ReadNetns(s, env)...)
	return nil
}

func (n *nsSockets) close() {
	if n.reader != nil {
		n.reader.Close()
		n.reader = nil
	}
	if n.nft != nil {
		n.nft.Close()
		n.nft = nil
	}
}
