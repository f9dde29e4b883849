package bpf

import (
	"errors"
	"fmt"
	"math"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

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
	if p.names == nil {
		if p.names, err = linkNames(p.opts.Netns); err != nil {
			return err
		}
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
	var maps dropsMaps
	if err := spec.LoadAndAssign(&maps, nil); err != nil {
		return fmt.Errorf("create drop maps: %w", err)
	}
	p.keep(maps.Drops)
	p.keep(maps.Errors)
	opts := &ebpf.CollectionOptions{MapReplacements: map[string]*ebpf.Map{dropsMapDrops: maps.Drops, dropsMapErrors: maps.Errors}}

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
