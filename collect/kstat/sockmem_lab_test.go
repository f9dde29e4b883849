package kstat

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/internal/nldump"
	"github.com/nettune/nettune/model"
)

type injector = func(context.Context, testing.TB, *lab.Veth) (lab.FloodResult, error)

// inject runs an injector for about a second between two fresh namespaces; it skips where
// the kernel lacks what the injector needs.
func inject(t *testing.T, fn injector) (*lab.Veth, lab.FloodResult) {
	t.Helper()
	lab.RequireRoot(t)
	v := lab.NewVeth(t, lab.NewNS(t, "k17A"), lab.NewNS(t, "k17B"), lab.VethOpts{})
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	r, err := fn(ctx, t, v)
	if errors.Is(err, lab.ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sent %d (errors %d) in %v", r.Sent, r.Errors, r.Elapsed.Round(time.Millisecond))
	return v, r
}

// in runs the readers of ReadNetns in ns (nil: the test's own) and returns the sample.
func in(t *testing.T, ns *lab.NS, s *model.Sample) *model.Sample {
	t.Helper()
	if s == nil {
		s = &model.Sample{}
	}
	name := ""
	if ns != nil {
		name = ns.Name
	}
	err := netns.Do(name, func() (err error) {
		if s.SNMP, err = ReadSNMP("/proc"); err != nil {
			return err
		}
		if s.UDPSockets, err = ReadUDPSockets("/proc", nldump.OpenDumper); err != nil {
			return err
		}
		if errs := ReadNetns(s, Env{ProcRoot: "/proc", Netlink: nldump.OpenDumper}); errs != nil {
			return errors.New(strings.Join(errs, "; "))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read in %q: %v", name, err)
	}
	return s
}

// peakPool is inject, reading sockstat every 10 ms while the injector runs: the highest
// TCP and UDP pool readings. A pool is read while it is being exhausted: the kernel refuses
// charges against the count sockstat prints, but with per-CPU batches (6.0 and later) that
// count also moves by other sockets' batches, so after the injector it may read lower than
// what held the limit.
func peakPool(t *testing.T, fn injector) (v *lab.Veth, r lab.FloodResult, tcp, udp uint64) {
	t.Helper()
	done := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			if st, err := ReadSockstat("/proc"); err == nil {
				tcp, udp = max(tcp, st.TCPMem), max(udp, st.UDPMem)
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	v, r = inject(t, fn)
	close(done)
	<-polled
	return v, r, tcp, udp
}

// TestSeesUDPMemExhaustion: with udp_mem at 20 45 50 pages, the sinks on B, whose own buffers
// are far from full, count drops: the pool refused the memory. What proves it is that
// refusal, not one reading of sockstat's UDP pool (host-wide: read in either namespace): the
// kernel checks the shared count, which each CPU's batch of up to mem_pcpu_rsv pages moves in
// steps, and other sockets' batches can move it down again before a 10 ms poll sees the
// peak (one run in four peaked at 32 pages). So the peak must be within those batches of the
// limit, and the drops must come with the sinks' buffers under half full.
func TestSeesUDPMemExhaustion(t *testing.T) {
	before := in(t, nil, nil).SNMP
	v, r, _, peak := peakPool(t, lab.InjectUDPMem)
	b := in(t, v.B, nil)
	slack := pcpuSlack(t)
	t.Logf("sockstat UDP mem peaked at %d pages, %d after (limit held %d, per-CPU batches up to %d pages); B sockets %+v",
		peak, b.Sockstat.UDPMem, lab.UDPMemHard, slack, b.UDPSockets)
	// The kernel refuses the charge that would cross the limit, so the pool may stop a
	// datagram's page below it; the shared count may lag by the per-CPU batches.
	if peak == 0 || peak+slack < lab.UDPMemHard-1 {
		t.Errorf("UDP mem peaked at %d pages, want ≥ %d less the per-CPU batches (%d)", peak, lab.UDPMemHard-1, slack)
	}
	var drops uint64
	for _, s := range b.UDPSockets {
		drops += s.Drops
		if s.RcvBuf < 1<<20 || uint64(s.RxQueue) >= uint64(s.RcvBuf)/2 {
			t.Errorf("sink %s: rcvbuf %d, queued %d: the socket's own buffer must not be the limit", s.Local, s.RcvBuf, s.RxQueue)
		}
	}
	if len(b.UDPSockets) == 0 || drops < uint64(r.Sent)/10 {
		t.Errorf("%d socket drops of %d sent", drops, r.Sent)
	}
	if b.Sockstat.UDPInUse != lab.UDPMemSinks {
		t.Errorf("B UDP inuse %d, want its %d sinks", b.Sockstat.UDPInUse, lab.UDPMemSinks)
	}
	t.Logf("B Udp.MemErrors %d, RcvbufErrors %d, InErrors %d; host Udp.MemErrors moved %d",
		b.SNMP["Udp.MemErrors"], b.SNMP["Udp.RcvbufErrors"], b.SNMP["Udp.InErrors"], in(t, nil, nil).SNMP["Udp.MemErrors"]-before["Udp.MemErrors"])
}

// pcpuSlack is how far sockstat's pools may lag what the CPUs hold: mem_pcpu_rsv pages per
// CPU, 256 (1 MiB of 4 KiB pages) where the sysctl does not exist.
func pcpuSlack(t *testing.T) uint64 {
	rsv := uint64(256)
	if b, err := os.ReadFile("/proc/sys/net/core/mem_pcpu_rsv"); err == nil {
		n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			t.Fatalf("mem_pcpu_rsv %q: %v", b, err)
		}
		rsv = n
	}
	return rsv * uint64(runtime.NumCPU())
}

// TestSeesTCPMemExhaustion: with tcp_mem at 20 50 50 pages and connections whose receiver
// never reads, sockstat's TCP pool stands above the hard limit and the kernel counts entries
// into memory pressure.
func TestSeesTCPMemExhaustion(t *testing.T) {
	v, _, peak, _ := peakPool(t, lab.InjectTCPMem)
	a, b := in(t, v.A, nil), in(t, v.B, nil)
	t.Logf("sockstat TCP mem peaked at %d pages, %d after (limit held %d), A inuse %d, B inuse %d", peak, b.Sockstat.TCPMem, lab.TCPMemHard, a.Sockstat.TCPInUse, b.Sockstat.TCPInUse)
	// As for UDP, the pool may stop one buffer below the limit: up to a 64 KiB segment's
	// 17 pages.
	if peak < lab.TCPMemHard-17 {
		t.Errorf("TCP mem peaked at %d pages, want ≥ %d", peak, lab.TCPMemHard-17)
	}
	if a.Sockstat.TCPInUse != lab.TCPMemConns || b.Sockstat.TCPInUse != lab.TCPMemConns+1 {
		t.Errorf("TCP inuse A %d, B %d: want the connections, and B's listener", a.Sockstat.TCPInUse, b.Sockstat.TCPInUse)
	}
	pressures := a.SNMP["TcpExt.TCPMemoryPressures"] + b.SNMP["TcpExt.TCPMemoryPressures"]
	for _, k := range []string{"TcpExt.TCPMemoryPressures", "TcpExt.TCPMemoryPressuresChrono", "TcpExt.TCPRcvQDrop", "TcpExt.PruneCalled", "TcpExt.RcvPruned", "TcpExt.TCPRcvCollapsed", "Tcp.RetransSegs"} {
		t.Logf("%s: A %d, B %d", k, a.SNMP[k], b.SNMP[k])
	}
	if pressures == 0 {
		t.Error("no TCPMemoryPressures in either namespace")
	}
}
