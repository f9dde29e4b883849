package bpf

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// probeName names the programs CheckFeatures loads for a moment.
const probeName = "nettune_probe"

// Feature is one kernel capability and, when missing, why.
type Feature struct {
	OK     bool   `json:"ok"`
	Reason string `json:"reason,omitempty"`
}

// Features is what `nettune check` reports: the kernel's eBPF capabilities and the modes
// Attach would pick with default options.
type Features struct {
	BTF             Feature `json:"btf"`
	XDPLink         Feature `json:"xdp_link"`
	TCX             Feature `json:"tcx"`
	TPBTF           Feature `json:"tp_btf"`
	DropReasons     Feature `json:"drop_reasons"`
	DropReasonCount int     `json:"drop_reason_count"`
	DropLocations   Feature `json:"drop_locations"` // kfree_skb drops by location, with or without reasons
	TestRun         Feature `json:"test_run"`
	TCMode          string  `json:"tc_mode"`    // tcx or clsact
	DropsMode       string  `json:"drops_mode"` // tp_btf, raw_tracepoint or none
	XDPMode         string  `json:"xdp_mode"`   // what auto does
}

func feature(err error) Feature {
	if err != nil {
		return Feature{Reason: err.Error()}
	}
	return Feature{OK: true}
}

// noIfindex names no interface: tcx link creation against it fails with ENODEV when the
// kernel knows the link type, so probing attaches nothing anywhere.
const noIfindex = math.MaxInt32

// CheckFeatures probes the running kernel. Nothing stays attached.
func CheckFeatures() Features {
	var f Features
	spec, err := btf.LoadKernelSpec()
	f.BTF = feature(err)
	f.dropFeatures(spec, err)

	f.XDPLink = feature(probeXDPLink())
	f.TCX = feature(probeLink(ebpf.SchedCLS, ebpf.AttachTCXIngress, func(p *ebpf.Program) error {
		_, err := link.AttachTCX(link.TCXOptions{Program: p, Interface: noIfindex, Attach: ebpf.AttachTCXIngress})
		return err
	}))
	f.TCMode = TCX
	if !f.TCX.OK {
		f.TCMode = TCClsact
	}

	f.TPBTF = feature(probeTPBTF())
	f.DropsMode = "tp_btf"
	if !f.TPBTF.OK {
		f.DropsMode = "raw_tracepoint"
	}
	if !f.DropLocations.OK {
		f.DropsMode = "none"
	}
	f.TestRun = feature(probeTestRun())
	f.XDPMode = "auto: native on veth with GRO on, off elsewhere (tc ingress counts there; never generic, never native on a physical NIC)"
	return f
}

// dropFeatures: drop reasons need the enum in the kernel's BTF; drop locations need BTF (the
// programs are CO-RE) and, without the enum, come from the location-only programs.
func (f *Features) dropFeatures(spec *btf.Spec, btfErr error) {
	if btfErr != nil {
		f.DropReasons = feature(fmt.Errorf("needs btf: %w", btfErr))
		f.DropLocations = f.DropReasons
		return
	}
	names, err := dropReasons(spec)
	f.DropReasons = feature(err)
	f.DropReasonCount = len(names)
	_, _, err = chooseDropProgs(names, err)
	f.DropLocations = feature(err)
}

// emptyProg is a program of the given type that only returns ret.
func emptyProg(name string, typ ebpf.ProgramType, attach ebpf.AttachType, attachTo string, ret int32) (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: name, Type: typ, AttachType: attach, AttachTo: attachTo, License: "Dual BSD/GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, ret), asm.Return()},
	})
}

// probeLink tries to create a link against an interface that does not exist: ENODEV means
// the kernel supports the link type.
func probeLink(typ ebpf.ProgramType, at ebpf.AttachType, attach func(*ebpf.Program) error) error {
	p, err := emptyProg(probeName, typ, at, "", 0)
	if err != nil {
		return fmt.Errorf("load %s program: %w", typ, err)
	}
	defer p.Close()
	err = attach(p)
	if errors.Is(err, unix.ENODEV) {
		return nil
	}
	if err == nil {
		return errors.New("attach to a missing interface succeeded")
	}
	return err
}

// probeXDPLink attaches generic XDP to the loopback of a throw-away network namespace (a
// missing ifindex gives EINVAL, which cannot tell "no XDP links" apart). The namespace
// is the thread's for the probe only.
func probeXDPLink() error {
	p, err := emptyProg(probeName, ebpf.XDP, ebpf.AttachXDP, "", 2)
	if err != nil {
		return fmt.Errorf("load xdp program: %w", err)
	}
	defer p.Close()
	errc := make(chan error, 1)
	go func() {
		// The thread returns to its namespace after: a thread left in the throwaway one is
		// retired by Go, unless it is the main thread, which Go never ends — and whose
		// namespace /proc/self/ns/net then names.
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- fmt.Errorf("own netns: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("new netns: %w", err)
			return
		}
		var lerr error
		if l, err := link.AttachXDP(link.XDPOptions{Program: p, Interface: 1, Flags: link.XDPGenericMode}); err != nil {
			lerr = err
		} else {
			lerr = l.Close()
		}
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(lerr, fmt.Errorf("back to own netns: %w", err)) // stays locked: retired
			return
		}
		runtime.UnlockOSThread()
		errc <- lerr
	}()
	return <-errc
}

func probeTPBTF() error {
	p, err := emptyProg(probeName, ebpf.Tracing, ebpf.AttachTraceRawTp, "kfree_skb", 0)
	if err != nil {
		return fmt.Errorf("load tp_btf/kfree_skb: %w", err)
	}
	defer p.Close()
	l, err := link.AttachTracing(link.TracingOptions{Program: p})
	if err != nil {
		return fmt.Errorf("attach tp_btf/kfree_skb: %w", err)
	}
	return l.Close()
}

func probeTestRun() error {
	p, err := emptyProg(probeName, ebpf.XDP, ebpf.AttachNone, "", 2)
	if err != nil {
		return fmt.Errorf("load xdp program: %w", err)
	}
	defer p.Close()
	ret, err := p.Run(&ebpf.RunOptions{Data: make([]byte, 64)})
	if err != nil {
		return err
	}
	if ret != 2 {
		return fmt.Errorf("test run returned %d, want 2", ret)
	}
	return nil
}
