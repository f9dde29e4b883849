// Package nft reads a network namespace's nftables ruleset through netlink: its chains with
// their hooks and drop policies, and its rules with a readable rendering of their
// expressions and the counters of those that have one. Rules iptables-nft installs are
// nftables rules too. The github.com/google/nftables library decodes the messages; the
// dumps themselves go over the collector's netlink socket (nldump), so they run on the
// collector's namespace thread and a recording can replay them.
package nft

import (
	"errors"
	"fmt"
	"sort"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/nldump"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// Reader reads the ruleset of one namespace again and again over one netlink socket, opened
// on first use in the calling thread's namespace and kept until Close.
type Reader struct {
	open   nldump.Opener
	t      *transport
	c      *nftables.Conn
	absent bool // the kernel has no nfnetlink: nothing to read, ever
}

// NewReader returns a reader that opens its socket with open.
func NewReader(open nldump.Opener) *Reader { return &Reader{open: open} }

// Read reads the ruleset once (ReadOnce). It returns nil when the kernel has no nf_tables, and
// a Firewall that says why when the ruleset may not be read (nftables answers only to
// CAP_NET_ADMIN); other failures are errors.
func (r *Reader) Read() (*model.Firewall, error) {
	if r.absent {
		return nil, nil
	}
	if r.t == nil {
		d, err := r.open(unix.NETLINK_NETFILTER)
		if err != nil {
			if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT) {
				r.absent = true
				return nil, nil // no nfnetlink at all
			}
			return nil, fmt.Errorf("nftables: %w", err)
		}
		t := &transport{d: d}
		// Lasting: a transient connection makes the library dial its in-memory socket for
		// every request, and each dial seeds a random source (a third of a quiet
		// namespace's ruleset read).
		c, err := nftables.New(nftables.WithTestDial(t.exchange), nftables.AsLasting())
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("nftables: %w", err)
		}
		r.t, r.c = t, c
	}
	r.t.err = nil
	fw, err := read(r.c)
	if err == nil {
		return fw, nil
	}
	// The library formats the errors it passes on with %v: the errno is in t.err.
	switch cause := r.t.cause(err); {
	case errors.Is(cause, unix.EPERM), errors.Is(cause, unix.EACCES):
		return &model.Firewall{Unreadable: "reading the nftables ruleset needs CAP_NET_ADMIN (root)"}, nil
	case errors.Is(cause, unix.EOPNOTSUPP), errors.Is(cause, unix.ENOENT), errors.Is(cause, unix.EPROTONOSUPPORT):
		return nil, nil // nf_tables is not in this kernel
	default:
		return &model.Firewall{Unreadable: cause.Error()}, fmt.Errorf("nftables: %w", cause)
	}
}

// Close closes the socket.
func (r *Reader) Close() {
	if r.t != nil {
		_ = r.c.CloseLasting() // the in-memory socket; d is the kernel's
		r.t.d.Close()
		r.t, r.c = nil, nil
	}
}

// ReadOnce reads the ruleset of the calling thread's namespace over a socket of its own.
func ReadOnce(open nldump.Opener) (*model.Firewall, error) {
	r := NewReader(open)
	defer r.Close()
	return r.Read()
}

// errMalformed is an answer the library could not decode.
var errMalformed = errors.New("malformed nftables answer")

func read(c *nftables.Conn) (fw *model.Firewall, err error) {
	// The library indexes into answers without checking their length everywhere; what the
	// kernel (or a recording) sends is input like any other.
	defer func() {
		if p := recover(); p != nil {
			fw, err = nil, fmt.Errorf("%w: %v", errMalformed, p)
		}
	}()
	chains, err := c.ListChains()
	if err != nil {
		return nil, err
	}
	fw = &model.Firewall{}
	for _, ch := range chains {
		if ch.Table == nil {
			continue
		}
		family := familyName(ch.Table.Family)
		mc := model.FirewallChain{Family: family, Table: ch.Table.Name, Name: ch.Name, Type: string(ch.Type)}
		if ch.Hooknum != nil {
			mc.Hook = hookName(ch.Table.Family, uint32(*ch.Hooknum))
			mc.PolicyDrop = ch.Policy != nil && *ch.Policy == nftables.ChainPolicyDrop
		}
		fw.Chains = append(fw.Chains, mc)
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			return nil, err
		}
		for _, r := range rules {
			x := render(ch.Table.Family, r.Exprs)
			fw.Rules = append(fw.Rules, model.FirewallRule{Family: family, Table: ch.Table.Name, Chain: ch.Name, Handle: r.Handle,
				Expr: x.text, Drop: x.drop, Jumps: x.jumps, Counter: x.counter != nil, Packets: x.packets(), Bytes: x.bytes()})
		}
	}
	sort.SliceStable(fw.Chains, func(i, j int) bool { return chainLess(fw.Chains[i], fw.Chains[j]) })
	return fw, nil
}

func chainLess(a, b model.FirewallChain) bool {
	if a.Family != b.Family {
		return a.Family < b.Family
	}
	if a.Table != b.Table {
		return a.Table < b.Table
	}
	return a.Name < b.Name
}

// familyName is the family as nft spells it.
func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyARP:
		return "arp"
	case nftables.TableFamilyBridge:
		return "bridge"
	case nftables.TableFamilyNetdev:
		return "netdev"
	}
	return fmt.Sprintf("family%d", f)
}

// hookName names a base chain's hook: the numbers mean different hooks in the netdev and arp
// families (include/uapi/linux/netfilter.h, netfilter_arp.h).
func hookName(f nftables.TableFamily, n uint32) stage.Hook {
	switch f {
	case nftables.TableFamilyNetdev:
		switch n {
		case unix.NF_NETDEV_INGRESS:
			return stage.HookIngress
		case unix.NF_NETDEV_EGRESS:
			return stage.HookEgress
		}
	case nftables.TableFamilyARP:
		switch n {
		case 0:
			return stage.HookInput
		case 1:
			return stage.HookOutput
		case 2:
			return stage.HookForward
		}
	default:
		switch n {
		case unix.NF_INET_PRE_ROUTING:
			return stage.HookPrerouting
		case unix.NF_INET_LOCAL_IN:
			return stage.HookInput
		case unix.NF_INET_FORWARD:
			return stage.HookForward
		case unix.NF_INET_LOCAL_OUT:
			return stage.HookOutput
		case unix.NF_INET_POST_ROUTING:
			return stage.HookPostrouting
		case nfInetIngress:
			return stage.HookIngress
		}
	}
	return stage.Hook(fmt.Sprintf("hook%d", n))
}

// nfInetIngress is the inet family's ingress hook (5.10 and later), which x/sys/unix lacks.
const nfInetIngress = 5
