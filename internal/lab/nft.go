package lab

import (
	"encoding/binary"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// FirewallOpts is a DROP rule DropUDP installs.
type FirewallOpts struct {
	Port    int  // UDP destination port dropped
	Counter bool // the rule counts what it drops (iptables-nft rules always do)
	Hook    *nftables.ChainHook
}

// DropUDP installs, in table inet nettune_lab of ns, a base chain at the input hook (or
// o.Hook) with policy accept and one rule "udp dport PORT [counter] drop", through netlink
// as nft would. The table is deleted when the test ends.
func DropUDP(t testing.TB, ns *NS, o FirewallOpts) {
	t.Helper()
	h, err := vnetns.GetFromName(ns.Name)
	if err != nil {
		t.Fatalf("open netns %s: %v", ns.Name, err)
	}
	defer h.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(h)))
	if err != nil {
		t.Fatalf("nftables in %s: %v", ns.Name, err)
	}
	hook := o.Hook
	if hook == nil {
		hook = nftables.ChainHookInput
	}
	accept := nftables.ChainPolicyAccept
	tbl := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "nettune_lab"})
	ch := c.AddChain(&nftables.Chain{Name: "lab", Table: tbl, Type: nftables.ChainTypeFilter, Hooknum: hook,
		Priority: nftables.ChainPriorityFilter, Policy: &accept})
	port := binary.BigEndian.AppendUint16(nil, uint16(o.Port))
	exprs := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: port},
	}
	if o.Counter {
		exprs = append(exprs, &expr.Counter{})
	}
	c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: append(exprs, &expr.Verdict{Kind: expr.VerdictDrop})})
	if err := c.Flush(); err != nil {
		t.Skipf("nftables in %s: %v (no nf_tables in this kernel?)", ns.Name, err)
	}
	t.Cleanup(func() {
		h, err := vnetns.GetFromName(ns.Name)
		if err != nil {
			return // the namespace is gone, and its tables with it
		}
		defer h.Close()
		if c, err := nftables.New(nftables.WithNetNSFd(int(h))); err == nil {
			c.DelTable(tbl)
			_ = c.Flush()
		}
	})
}
