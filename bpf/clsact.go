package bpf

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	tc "github.com/florianl/go-tc"
	"github.com/florianl/go-tc/core"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/netns"
)

// Our cls_bpf filters use their own handle and priority (both "NT") and are named
// "<program> pid=<pid>", so a later start can find and remove leftovers of a crash.
const (
	clsactHandle = 0x4e54
	clsactPrio   = 0x4e54
	ourPrefix    = "nettune_"
)

func ours(name string) bool { return strings.HasPrefix(name, ourPrefix) }

func hookParent(hook string) uint32 {
	if hook == hookEgress {
		return core.BuildHandle(tc.HandleRoot, tc.HandleMinEgress)
	}
	return core.BuildHandle(tc.HandleRoot, tc.HandleMinIngress)
}

// withTC runs fn with an rtnetlink tc socket in namespace ns.
func withTC(ns string, fn func(*tc.Tc) error) error {
	cfg := &tc.Config{}
	if ns != "" {
		h, err := netns.Open(ns)
		if err != nil {
			return err
		}
		defer h.Close()
		cfg.NetNS = int(h)
	}
	t, err := tc.Open(cfg)
	if err != nil {
		return fmt.Errorf("open rtnetlink: %w", err)
	}
	defer t.Close()
	return fn(t)
}

// clsactFilter is one cls_bpf filter we added; Close removes it (and the clsact qdisc if we
// created it and nothing else uses it).
type clsactFilter struct {
	ns       string
	ifindex  uint32
	hook     string
	qdiscNew bool
}

func filterObject(ifindex uint32, hook string) *tc.Object {
	return &tc.Object{
		Msg: tc.Msg{Family: unix.AF_UNSPEC, Ifindex: ifindex, Handle: clsactHandle,
			Parent: hookParent(hook), Info: core.FilterInfo(clsactPrio, unix.ETH_P_ALL)},
		Attribute: tc.Attribute{Kind: "bpf"},
	}
}

func clsactQdisc(ifindex uint32) *tc.Object {
	return &tc.Object{
		Msg: tc.Msg{Family: unix.AF_UNSPEC, Ifindex: ifindex,
			Handle: core.BuildHandle(tc.HandleRoot, 0), Parent: tc.HandleIngress},
		Attribute: tc.Attribute{Kind: "clsact"},
	}
}

func addClsact(ns string, ifindex int, prog *ebpf.Program, hook string) (*clsactFilter, error) {
	info, err := prog.Info()
	if err != nil {
		return nil, fmt.Errorf("program info: %w", err)
	}
	f := &clsactFilter{ns: ns, ifindex: uint32(ifindex), hook: hook}
	err = withTC(ns, func(t *tc.Tc) error {
		switch err := t.Qdisc().Add(clsactQdisc(f.ifindex)); {
		case err == nil:
			f.qdiscNew = true
		case !errors.Is(err, unix.EEXIST):
			return fmt.Errorf("add clsact qdisc: %w", err)
		}
		fd := uint32(prog.FD())
		name := fmt.Sprintf("%s pid=%d", info.Name, ownPID)
		flags := uint32(tc.BpfActDirect)
		obj := filterObject(f.ifindex, hook)
		obj.BPF = &tc.Bpf{FD: &fd, Name: &name, Flags: &flags}
		if err := t.Filter().Add(obj); err != nil {
			return fmt.Errorf("add cls_bpf filter: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (f *clsactFilter) Close() error {
	err := withTC(f.ns, func(t *tc.Tc) error {
		if err := t.Filter().Delete(filterObject(f.ifindex, f.hook)); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("delete cls_bpf filter: %w", err)
		}
		if !f.qdiscNew || len(filters(t, f.ifindex, hookIngress))+len(filters(t, f.ifindex, hookEgress)) > 0 {
			return nil
		}
		if err := t.Qdisc().Delete(clsactQdisc(f.ifindex)); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("delete clsact qdisc: %w", err)
		}
		return nil
	})
	if errors.Is(err, netns.ErrNotFound) || errors.Is(err, unix.ENODEV) {
		return nil // the namespace or link is gone, and our filter with it
	}
	return err
}

type tcFilter struct {
	msg  tc.Msg
	name string
	id   uint32
}

func filters(t *tc.Tc, ifindex uint32, hook string) []tcFilter {
	objs, err := t.Filter().Get(&tc.Msg{Family: unix.AF_UNSPEC, Ifindex: ifindex, Parent: hookParent(hook)})
	if err != nil {
		return nil // no clsact qdisc: no filters
	}
	var out []tcFilter
	for _, o := range objs {
		if o.Kind != "bpf" || o.BPF == nil {
			continue
		}
		f := tcFilter{msg: o.Msg}
		if o.BPF.Name != nil {
			f.name = *o.BPF.Name
		}
		if o.BPF.ID != nil {
			f.id = *o.BPF.ID
		}
		out = append(out, f)
	}
	return out
}

// clsactView is what a namespace's clsact hooks held when Attach looked: the cls_bpf
// filters on watched links, other than leftovers it removed. One qdisc dump finds the links
// that have a clsact qdisc; only those are asked for filters.
type clsactView map[clsactHook][]tcFilter

type clsactHook struct {
	ifindex uint32
	hook    string
}

// viewClsact reads the cls_bpf filters on t's links. With clean it also removes our filters
// left behind by a nettune process that no longer runs (SIGKILL or a crash: cls_bpf filters,
// unlike bpf_links, outlive their process).
func viewClsact(t *target, clean bool) (clsactView, error) {
	watched := make(map[uint32]*watchedLink, len(t.links))
	for _, l := range t.links {
		watched[uint32(l.index)] = l
	}
	v := clsactView{}
	err := withTC(t.ns, func(s *tc.Tc) error {
		qs, err := s.Qdisc().Get()
		if err != nil {
			return fmt.Errorf("list qdiscs: %w", err)
		}
		var errs []error
		for _, q := range qs {
			l := watched[q.Ifindex]
			if q.Kind != "clsact" || l == nil {
				continue
			}
			for _, hook := range []string{hookIngress, hookEgress} {
				for _, f := range filters(s, q.Ifindex, hook) {
					if clean && ours(f.name) && !ownerAlive(f.name) {
						obj := &tc.Object{Msg: f.msg, Attribute: tc.Attribute{Kind: "bpf"}}
						if err := s.Filter().Delete(obj); err != nil && !errors.Is(err, unix.ENOENT) {
							errs = append(errs, fmt.Errorf("%s %s: delete %q: %w", l.name, hook, f.name, err))
						}
						continue
					}
					k := clsactHook{q.Ifindex, hook}
					v[k] = append(v[k], f)
				}
			}
		}
		return errors.Join(errs...)
	})
	return v, err
}

func (v clsactView) filters(ifindex int, hook string) []tcFilter {
	return v[clsactHook{uint32(ifindex), hook}]
}

// ownerAlive reports whether the process named in a filter's "pid=N" suffix still runs
// (another nettune's live filters must stay).
func ownerAlive(name string) bool {
	var pid int
	i := strings.LastIndex(name, " pid=")
	if i < 0 {
		return false
	}
	if _, err := fmt.Sscanf(name[i:], " pid=%d", &pid); err != nil || pid <= 0 || pid == ownPID {
		return false
	}
	return unix.Kill(pid, 0) == nil || errors.Is(unix.Kill(pid, 0), unix.EPERM)
}
