package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/nettune/nettune/internal/netns"
)

// Settings of InjectPathLoss.
const (
	PathLossEvery = 16 // B's XDP program drops one packet in PathLossEvery, at random
	PathLossPort  = 9800
	PathLossConns = 4
	// PathLossProg is the name of B's dropping XDP program, as bpftool shows it.
	PathLossProg = "lab_path_loss"
)

// InjectPathLoss streams TCP from A to a reader on B while an XDP program on B's veth (generic
// mode, a bpf_link) drops one packet in PathLossEvery: the loss is past A's last counter, so A
// sees only its own retransmissions. The program goes when the test ends.
func InjectPathLoss(ctx context.Context, t testing.TB, v *Veth) (FloodResult, error) {
	dst := fmt.Sprintf("%s:%d", v.BAddr, PathLossPort)
	if err := readTCP(t, v.B, dst); err != nil {
		return FloodResult{}, fmt.Errorf("inject path loss: %w", err)
	}
	if err := dropOneIn(t, v.B, v.BName, PathLossEvery); err != nil {
		return FloodResult{}, fmt.Errorf("inject path loss: %w", err)
	}
	conns, err := dialTCP(t, v.A, dst, PathLossConns)
	if err != nil {
		return FloodResult{}, fmt.Errorf("inject path loss: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, InjectMax)
	defer cancel()
	return writeAll(ctx, conns), nil
}

// dropOneIn attaches to link in ns an XDP program (generic mode) that drops one packet in
// every n at random (n a power of two) and passes the rest; detached at cleanup.
func dropOneIn(t testing.TB, ns *NS, name string, n int) error {
	if n <= 0 || n&(n-1) != 0 {
		return fmt.Errorf("drop one in %d: not a power of two", n)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: PathLossProg, Type: ebpf.XDP, License: "Dual BSD/GPL",
		Instructions: asm.Instructions{
			asm.FnGetPrandomU32.Call(),
			asm.And.Imm(asm.R0, int32(n-1)),
			asm.JEq.Imm(asm.R0, 0, "drop"),
			asm.Mov.Imm(asm.R0, 2), // XDP_PASS
			asm.Return(),
			asm.Mov.Imm(asm.R0, 1).WithSymbol("drop"), // XDP_DROP
			asm.Return(),
		},
	})
	if errors.Is(err, ebpf.ErrNotSupported) {
		return errors.Join(ErrUnsupported, err)
	}
	if err != nil {
		return fmt.Errorf("load %s: %w", PathLossProg, err)
	}
	ifindex, err := linkIndex(ns, name)
	if err == nil {
		var l link.Link
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: int(ifindex), Flags: link.XDPGenericMode})
		if err == nil {
			t.Cleanup(func() { l.Close() })
		}
	}
	prog.Close() // the link holds it
	if errors.Is(err, ebpf.ErrNotSupported) {
		return errors.Join(ErrUnsupported, err)
	}
	if err != nil {
		return fmt.Errorf("attach %s to %s: %w", PathLossProg, name, err)
	}
	return nil
}

// readTCP listens on addr inside ns and reads and discards everything every connection
// sends, until the test ends.
func readTCP(t testing.TB, ns *NS, addr string) error {
	var ln net.Listener
	err := netns.Do(ns.name(), func() (err error) {
		ln, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		return fmt.Errorf("listen %s in %s: %w", addr, ns.name(), err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return nil
}
