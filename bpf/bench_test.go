package bpf

import (
	"net"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/lab"
)

// benchRun reports the kernel's average run time per packet over 10 M BPF_PROG_TEST_RUN
// repeats (the kernel reports whole nanoseconds).
func benchRun(b *testing.B, prog *ebpf.Program) {
	const repeat = 10_000_000
	var per time.Duration
	for b.Loop() {
		_, d, err := prog.Benchmark(frame(64), repeat, nil)
		if err != nil {
			b.Skipf("BPF_PROG_TEST_RUN: %v", err)
		}
		per = d
	}
	b.ReportMetric(float64(per.Nanoseconds()), "ns/pkt")
}

// BenchmarkPrograms compares each program with an empty program of its type returning the
// same verdict: "nettune" finds its link by ifindex (no other watched link has it), "shared"
// reads the device's namespace first (the ifindex is watched in several namespaces).
func BenchmarkPrograms(b *testing.B) {
	unique := mustCounters(b, countersLinkInfo{RxQueues: 4}, 4, true)
	shared := mustCounters(b, countersLinkInfo{RxQueues: 4}, 4, false)
	for _, c := range []struct {
		name         string
		typ          ebpf.ProgramType
		ret          int32
		prog, shared *ebpf.Program
	}{
		{"xdp", ebpf.XDP, xdpPass, unique.NettuneXdp, shared.NettuneXdp},
		{"tc-ingress", ebpf.SchedCLS, -1, unique.NettuneTcIn, shared.NettuneTcIn},
		{"tc-egress", ebpf.SchedCLS, -1, unique.NettuneTcEg, shared.NettuneTcEg},
	} {
		empty, err := emptyProg("bench_empty", c.typ, ebpf.AttachNone, "", c.ret)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name+"/empty", func(b *testing.B) { benchRun(b, empty) })
		b.Run(c.name+"/nettune", func(b *testing.B) { benchRun(b, c.prog) })
		b.Run(c.name+"/shared-ifindex", func(b *testing.B) { benchRun(b, c.shared) })
		empty.Close()
	}
}

// BenchmarkVethUDP sends 64-byte datagrams between two namespaces, with no probes and with
// every probe attached (XDP generic, tc, xmit, drops) in the same run.
// The modes: none, every probe as advise attaches them by default (XDP auto: off on a veth
// without GRO; tc ingress/egress, xmit, drops), and the same with generic XDP forced on both
// ends (the costly mode auto avoids).
func BenchmarkVethUDP(b *testing.B) {
	for _, mode := range []string{"none", XDPAuto, XDPGeneric} {
		name := "none"
		if mode != "none" {
			name = "all-probes-xdp-" + mode
		}
		b.Run(name, func(b *testing.B) {
			a, bb := lab.NewNS(b, "bpfA"), lab.NewNS(b, "bpfB")
			v := lab.NewVeth(b, a, bb, lab.VethOpts{Queues: 1})
			if mode != "none" {
				attach(b, Options{Targets: []Target{{Netns: a.Name, Links: []string{v.AName}}}, InPath: true, XDPMode: mode})
				attach(b, Options{Targets: []Target{{Netns: bb.Name, Links: []string{v.BName}}}, InPath: true, Drops: true, XDPMode: mode})
			}
			var rx, tx net.PacketConn
			bb.Do(b, func() error {
				var err error
				rx, err = net.ListenPacket("udp4", v.BAddr+":7001")
				return err
			})
			defer rx.Close()
			go func() {
				buf := make([]byte, 2048)
				for {
					if _, _, err := rx.ReadFrom(buf); err != nil {
						return
					}
				}
			}()
			a.Do(b, func() error {
				var err error
				tx, err = net.ListenPacket("udp4", ":0")
				return err
			})
			defer tx.Close()
			dst := &net.UDPAddr{IP: net.ParseIP(v.BAddr), Port: 7001}
			payload := make([]byte, 64)
			start := time.Now()
			for b.Loop() {
				if _, err := tx.WriteTo(payload, dst); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pkts/s")
		})
	}
}

// BenchmarkDropEvent measures the kfree_skb program's cost per drop event from the
// kernel's BPF run-time statistics, with datagrams to a closed port as the drops.
func BenchmarkDropEvent(b *testing.B) {
	lab.Global(b)
	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		b.Skipf("bpf stats: %v", err)
	}
	defer stats.Close()
	a, bb := lab.NewNS(b, "bpfA"), lab.NewNS(b, "bpfB")
	v := lab.NewVeth(b, a, bb, lab.VethOpts{Queues: 1})
	p := attach(b, Options{Targets: []Target{{Netns: bb.Name}}, Drops: true})
	var tx net.PacketConn
	a.Do(b, func() error {
		var err error
		tx, err = net.ListenPacket("udp4", ":0")
		return err
	})
	defer tx.Close()
	dst := &net.UDPAddr{IP: net.ParseIP(v.BAddr), Port: 9}
	payload := make([]byte, 64)
	s0, err := p.dropProg.Stats()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := tx.WriteTo(payload, dst); err != nil {
			b.Fatal(err)
		}
	}
	s1, err := p.dropProg.Stats()
	if err != nil {
		b.Fatal(err)
	}
	if n := s1.RunCount - s0.RunCount; n > 0 {
		b.ReportMetric(float64(s1.Runtime-s0.Runtime)/float64(n), "ns/drop")
		b.ReportMetric(float64(n)/float64(b.N), "events/op")
	}
}
