package bpf

import (
	"errors"
	"fmt"
	"math"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"

	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/model"
)

// noReason is NO_REASON in drops.c: the key's reason for drops the kernel gave none.
const noReason = math.MaxUint32

// dropProgs is a pair of kfree_skb programs: tp_btf, and the raw tracepoint used where tp_btf
// fails.
type dropProgs struct{ btf, raw string }

var (
	reasonProgs   = dropProgs{dropsProgNettuneDrop, dropsProgNettuneDropRt}
	locationProgs = dropProgs{dropsProgNettuneLoc, dropsProgNettuneLocRt}
)

// chooseDropProgs picks the programs and reason names for DropReasons' result. The reason
// enum and kfree_skb's reason argument both arrived in 5.17, so a kernel without the enum
// gets the programs that read only (skb, location) and count under noReason.
func chooseDropProgs(reasons map[uint32]string, err error) (dropProgs, map[uint32]string, error) {
	if errors.Is(err, ErrNoDropReasons) {
		return locationProgs, map[uint32]string{noReason: model.ReasonUnavailable}, nil
	}
	if err != nil {
		return dropProgs{}, nil, err
	}
	return reasonProgs, reasons, nil
}

// attachDrops loads the kfree_skb programs for DropReasons' result (reasons, err), with the
// consume-path reason values of this kernel, and attaches them as tp_btf, or as a raw
// tracepoint where tp_btf fails.
func (p *Probes) attachDrops(reasons map[uint32]string, err error) error {
	progs, reasons, err := chooseDropProgs(reasons, err)
	if err != nil {
		return err
	}
	p.reasons = reasons
	if err := p.nameLinks(); err != nil {
		return err
	}
	spec, err := loadDrops()
	if err != nil {
		return err
	}
	for v, name := range map[string]string{dropsVarReasonConsumed: "SKB_CONSUMED", dropsVarReasonNotDroppedYet: "SKB_NOT_DROPPED_YET"} {
		if val, ok := reasonValue(reasons, name); ok {
			if err := spec.Variables[v].Set(val); err != nil {
				return fmt.Errorf("set %s: %w", v, err)
			}
		}
	}
	if progs == reasonProgs && p.kfreeSkbArgs() >= 4 {
		if err := spec.Variables[dropsVarHasRxSk].Set(uint32(1)); err != nil {
			return fmt.Errorf("set %s: %w", dropsVarHasRxSk, err)
		}
	}
	var maps dropsMaps
	if err := spec.LoadAndAssign(&maps, p.loadOpts(nil)); err != nil {
		return fmt.Errorf("create drop maps: %w", err)
	}
	p.keep(maps.Drops)
	p.keep(maps.Errors)
	opts := p.loadOpts(map[string]*ebpf.Map{dropsMapDrops: maps.Drops, dropsMapErrors: maps.Errors})

	prog, lk, btfErr := attachDropProg(spec, opts, progs.btf, func(prog *ebpf.Program) (link.Link, error) {
		return link.AttachTracing(link.TracingOptions{Program: prog})
	})
	if btfErr != nil {
		var rawErr error
		prog, lk, rawErr = attachDropProg(spec, opts, progs.raw, func(prog *ebpf.Program) (link.Link, error) {
			return link.AttachRawTracepoint(link.RawTracepointOptions{Name: "kfree_skb", Program: prog})
		})
		if rawErr != nil {
			return errors.Join(btfErr, rawErr)
		}
		p.note("drops: raw_tracepoint/kfree_skb (tp_btf failed: %v)", btfErr)
	}
	p.keep(prog)
	p.keep(lk)
	p.dropProg = prog
	p.dropsMap = maps.Drops
	p.errMaps = append(p.errMaps, maps.Errors)
	if progs == locationProgs {
		p.note("drops: kernel has no drop reasons (< 5.17): counted by location only, as %s", model.ReasonUnavailable)
	}
	return nil
}

// nameLinks lists the links of targets the in-path probes did not resolve, so drops can
// name their interfaces. A namespace that cannot be read is a note: its drops are still
// counted, by ifindex.
func (p *Probes) nameLinks() error {
	var errs []error
	for _, t := range p.targets {
		if t.names != nil {
			continue
		}
		err := netns.Do(t.ns, func() error {
			all, err := netlink.LinkList()
			if err != nil {
				return fmt.Errorf("list links: %w", err)
			}
			t.names = make(map[int]string, len(all))
			for _, l := range all {
				t.names[l.Attrs().Index] = l.Attrs().Name
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("netns %q: %w", t.label(), err))
		}
	}
	if len(errs) == len(p.targets) {
		return errors.Join(errs...)
	}
	for _, err := range errs {
		p.note("drops: interface names: %v", err)
	}
	return nil
}

// kfreeSkbArgs is how many arguments the kfree_skb tracepoint passes, from its prototype in
// the kernel's BTF (typedef btf_trace_kfree_skb, whose first parameter is the tracepoint's
// own data); 0 when unknown.
func (p *Probes) kfreeSkbArgs() int {
	spec, err := p.btf.Kernel()
	if err != nil {
		return 0
	}
	var td *btf.Typedef
	if err := spec.TypeByName("btf_trace_kfree_skb", &td); err != nil {
		return 0
	}
	ptr, ok := td.Type.(*btf.Pointer)
	if !ok {
		return 0
	}
	proto, ok := ptr.Target.(*btf.FuncProto)
	if !ok || len(proto.Params) == 0 {
		return 0
	}
	return len(proto.Params) - 1
}

func attachDropProg(spec *ebpf.CollectionSpec, opts *ebpf.CollectionOptions, name string,
	attach func(*ebpf.Program) (link.Link, error)) (*ebpf.Program, link.Link, error) {
	s := spec.Copy()
	for n := range s.Programs {
		if n != name {
			delete(s.Programs, n)
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(s, *opts)
	if err != nil {
		return nil, nil, fmt.Errorf("load %s: %w", name, err)
	}
	prog := coll.DetachProgram(name)
	coll.Close()
	lk, err := attach(prog)
	if err != nil {
		prog.Close()
		return nil, nil, fmt.Errorf("attach %s: %w", name, err)
	}
	return prog, lk, nil
}
