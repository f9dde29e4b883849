package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nettune/nettune/collect/kstat"
	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/internal/netns"
)

// The lab cases of issue 17: the right knob, or none, for socket memory, listeners, SYN
// floods, neighbour tables and loss past the host. Each injects its condition between two
// test namespaces and asserts the verdict of `advise` (held to policy.Check like every run
// of this package).
//
// The host-wide limits (udp_mem, tcp_mem, gc_thresh3, nf_conntrack_max) also run the closed
// loop of closedloop_test.go: the limit lowered for the whole test (lab.Lower*, the value read
// first put back at cleanup), advise, apply, the same load again with the loss measured as a
// ratio, and rollback to the value nettune found.

// findingAt is the first finding at stage st, or fails the test.
func findingAt(t *testing.T, d adviseDoc, st, stderr string) int {
	t.Helper()
	for i, f := range d.Findings {
		if f.Stage == st {
			return i
		}
	}
	t.Fatalf("no %s finding in %+v (missing %v, stderr %s)", st, d.Findings, d.Missing, stderr)
	return -1
}

// noKnob fails when any finding or plan action names a knob with one of these prefixes.
func noKnob(t *testing.T, d adviseDoc, prefixes ...string) {
	t.Helper()
	for _, p := range prefixes {
		for _, f := range d.Findings {
			for _, k := range f.Knobs {
				if strings.HasPrefix(k, p) {
					t.Errorf("finding %s proposes %s; its evidence: %+v", f.ID, k, f.Evidence)
				}
			}
		}
		for _, a := range d.Plan {
			if strings.HasPrefix(a.Knob, p) {
				t.Errorf("plan proposes %s", a.Knob)
			}
		}
	}
}

// UDP memory exhaustion: the finding comes from the sockets' drops (or Udp.MemErrors) and
// sockstat against udp_mem, with udp_mem (host-wide) as the knob, never a per-socket buffer.
// With probes the PROTO_MEM drops, which have no interface (UDP reuses skb->dev), join that
// finding instead of making one of their own.
func TestVerdictUDPMemPool(t *testing.T) {
	lab.RequireRoot(t)
	for _, mode := range []string{"counters", "bpf"} {
		t.Run(mode, func(t *testing.T) {
			v := pair(t)
			var args []string
			if mode == "counters" {
				args = append(args, "--no-bpf")
			}
			// The limit is held for the whole test: with probes, an emulated guest's first
			// sample outlasts InjectUDPMem's few seconds and the interval saw no refusal.
			lab.LowerUDPMem(t)
			d, code, stderr := underLoss(t, v, lab.UDPMemLoad, v.B, args...)
			f := d.Findings[findingAt(t, d, "udp-mem", stderr)]
			if f.Class != "capacity" || !slices.Contains(f.Knobs, "sysctl:net.ipv4.udp_mem") || f.Netns != v.B.Name || code != ExitLoss {
				t.Errorf("exit %d, finding %+v", code, f)
			}
			// Kernels differ in what counts a charge refused by the pool: Udp.MemErrors on
			// some, only the sockets' drops on others (6.18); either is the loss.
			if !hasCounter(f.Evidence, "sockstat UDP mem") || !hasCounter(f.Evidence, "udp sockets drops") && !hasCounter(f.Evidence, "Udp.MemErrors") {
				t.Errorf("evidence %+v", f.Evidence)
			}
			for _, a := range d.Plan {
				if a.Knob == "sysctl:net.ipv4.udp_mem" && a.Scope != "global" {
					t.Errorf("udp_mem action %+v", a)
				}
			}
			noKnob(t, d, "sysctl:net.core.rmem_", "sysctl:net.ipv4.tcp_rmem")
			if mode != "bpf" || d.Mode != "counters+bpf" || !dropReasons() {
				return
			}
			if !slices.ContainsFunc(f.Reasons, func(r struct {
				Reason string `json:"reason"`
			}) bool {
				return r.Reason == "PROTO_MEM"
			}) {
				t.Errorf("udp-mem finding without the PROTO_MEM reason: %+v (all %+v)", f, d.Findings)
			}
			for _, g := range d.Findings {
				if g.ID != f.ID && slices.ContainsFunc(g.Reasons, func(r struct {
					Reason string `json:"reason"`
				}) bool {
					return r.Reason == "PROTO_MEM"
				}) {
					t.Errorf("PROTO_MEM drops in %s too: %+v", g.ID, g)
				}
			}
		})
	}
}

// A full TCP pool: tcp_mem, never tcp_rmem.
func TestVerdictTCPMemPool(t *testing.T) {
	lab.RequireRoot(t)
	v := pair(t)
	d, _, stderr := underLoss(t, v, lab.InjectTCPMem, v.B, "--no-bpf")
	f := d.Findings[findingAt(t, d, "tcp-rcvbuf", stderr)]
	if f.Class != "capacity" || !slices.Contains(f.Knobs, "sysctl:net.ipv4.tcp_mem") {
		t.Errorf("finding %+v", f)
	}
	noKnob(t, d, "sysctl:net.ipv4.tcp_rmem", "sysctl:net.core.rmem_")
}

// A listener's own listen() backlog (20) below somaxconn (4096) is the limit: advice naming
// the listener, somaxconn never proposed.
func TestVerdictListenBacklogIsTheApplications(t *testing.T) {
	lab.RequireRoot(t)
	v := pair(t)
	d, _, stderr := underLoss(t, v, lab.InjectListenBacklog, v.B, "--no-bpf")
	f := d.Findings[findingAt(t, d, "tcp-accept-queue", stderr)]
	if f.Class != "capacity" || !hasCounter(f.Evidence, fmt.Sprintf("tcp listener %s:%d", v.BAddr, lab.ListenPort)) {
		t.Errorf("finding %+v", f)
	}
	noKnob(t, d, "sysctl:net.core.somaxconn")
}

// A spoofed SYN flood completes no handshake: policy, no knob, advice about syncookies.
func TestVerdictSYNFloodIsNoCapacity(t *testing.T) {
	lab.RequireRoot(t)
	for _, tc := range []struct {
		name     string
		inject   injector
		severity string
	}{
		{"no cookies", lab.InjectSYNFloodNoCookies, "warning"},
		{"cookies", lab.InjectSYNFlood, "info"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := pair(t)
			d, code, stderr := underLoss(t, v, tc.inject, v.B, "--no-bpf")
			f := d.Findings[findingAt(t, d, "tcp-accept-queue", stderr)]
			if f.Class != "policy" || f.Severity != tc.severity || len(f.Knobs) != 0 || len(d.Plan) != 0 || code != ExitOK {
				t.Errorf("exit %d, finding %+v, plan %+v", code, f, d.Plan)
			}
		})
	}
}

// A neighbour table at gc_thresh3: capacity at neigh with the gc_thresh knobs, sized from
// the table's entries.
func TestVerdictNeighTableFull(t *testing.T) {
	lab.RequireRoot(t)
	v := pair(t)
	d, _, stderr := underLoss(t, v, lab.InjectNeighOverflow, v.A, "--no-bpf")
	f := d.Findings[findingAt(t, d, "neigh", stderr)]
	if f.ID != "neigh/"+v.A.Name+"/table" || f.Class != "capacity" || !slices.Contains(f.Knobs, "sysctl:net.ipv4.neigh.default.gc_thresh3") ||
		!hasCounter(f.Evidence, "neigh arp_cache table_fulls") {
		t.Errorf("finding %+v (all %+v)", f, d.Findings)
	}
	for _, a := range d.Plan {
		if a.Knob == "sysctl:net.ipv4.neigh.default.gc_thresh3" && (a.Scope != "global" || a.Proposed == a.Current) {
			t.Errorf("gc_thresh3 action %+v", a)
		}
	}
}

// Loss past the host: A's retransmissions with no drop of its own are a benign finding naming
// the connections, and nothing to change.
func TestVerdictLossPastTheHost(t *testing.T) {
	lab.RequireRoot(t)
	if os.Getenv("KERNELMATRIX_GUEST") != "" {
		// Measured in the 6.12 guest (2026-12-06): B received 10 794 of the 10 800 frames A
		// sent in 3 s and A retransmitted 12 segments of 278 000 — the generic-XDP dropper
		// lost about 1 in 1 800 there, not 1 in 16, too little for a finding. The injector,
		// not the rule, differs in the emulated guests.
		t.Skip("loss past the host: the lab's XDP dropper barely drops in the kernel matrix's emulated guests")
	}
	v := pair(t)
	d, code, stderr := underLoss(t, v, lab.InjectPathLoss, v.A, "--no-bpf")
	f := d.Findings[findingAt(t, d, "nic-tx", stderr)]
	if f.Class != "benign" || f.Severity != "info" || len(d.Plan) != 0 || code != ExitOK ||
		!hasCounter(f.Evidence, "→ "+v.BAddr+fmt.Sprintf(":%d", lab.PathLossPort)) {
		t.Errorf("exit %d, finding %+v, plan %+v", code, f, d.Plan)
	}
}

// Two sinks with equal buffers drop alike; only one application set SO_RCVBUF. With the
// socket iterator nettune tells them apart: that one gets advice, rmem_default is proposed for
// the other, and rmem_max for neither.
func TestVerdictAppSetRcvbuf(t *testing.T) {
	lab.RequireRoot(t)
	v := pair(t)
	d, _, stderr := underLoss(t, v, lab.InjectAppRcvbuf, v.B)
	if d.Mode != "counters+bpf" {
		t.Skipf("no probes: %s", d.BPFNote)
	}
	if strings.Contains(d.BPFNote, "SO_RCVBUF is unknown") {
		t.Skipf("no socket iterator: %s", d.BPFNote)
	}
	f := d.Findings[findingAt(t, d, "udp-rcvbuf", stderr)]
	if !slices.Contains(f.Knobs, "sysctl:net.core.rmem_default") {
		t.Errorf("finding %+v", f)
	}
	noKnob(t, d, "sysctl:net.core.rmem_max")
	if !slices.ContainsFunc(d.Advice, func(a string) bool {
		return strings.Contains(a, fmt.Sprintf("%s:%d (rcvbuf", v.BAddr, lab.AppRcvbufPort)) && strings.Contains(a, "set their own receive buffer")
	}) || slices.ContainsFunc(d.Advice, func(a string) bool { return strings.Contains(a, fmt.Sprintf(":%d (rcvbuf", lab.PlainRcvbufPort)) }) {
		t.Errorf("advice %v", d.Advice)
	}
}

// udpMemBurst is the burst TestClosedLoopUDPMemPool measures the pool with: more than
// lab.UDPMemLow's pool takes even with the per-CPU reserves (docs/rules.md §6), well within
// a pool sized from what the flood showed.
const udpMemBurst = 1200

// TestClosedLoopUDPMemPool: udp_mem lowered for the whole test (read first, put back at
// cleanup); a burst into sinks with room in their own buffers loses most of it to the pool.
// advise names udp-mem with udp_mem, apply raises it, the same burst then fits, and rollback
// puts back the value nettune found.
func TestClosedLoopUDPMemPool(t *testing.T) {
	lab.RequireRoot(t)
	v := pair(t)
	l := newLoop(t, v.B)
	l.config = writeConfig(t, "policy:\n  step: 8\n")
	atLeast(t, nil, "net.core.netdev_max_backlog", 1000)
	lab.LowerUDPMem(t)
	low := sysctl(t, nil, "net.ipv4.udp_mem")
	load := func(ctx context.Context) {
		if _, err := lab.UDPMemLoad(ctx, t, v); err != nil {
			t.Error(err)
		}
	}
	loss := func() float64 {
		got, err := lab.UDPMemBatch(t, v, udpMemBurst)
		if err != nil {
			t.Fatal(err)
		}
		return 1 - float64(got)/udpMemBurst
	}
	before := loss()
	if before < 0.1 {
		t.Fatalf("the pool refused only %.1f%% of a burst of %d: the scenario proves nothing", 100*before, udpMemBurst)
	}

	d := l.advise(load, ExitLoss)
	f := d.Findings[findingAt(t, d, "udp-mem", "")]
	if f.Class != "capacity" || !proposes(d, f.ID, "sysctl:net.ipv4.udp_mem") {
		t.Fatalf("finding %+v, plan %+v; want udp-mem/capacity with udp_mem", f, d.Plan)
	}

	// The plan sizes udp_mem past the per-CPU slack (docs/rules.md row 16); apply takes at
	// most one configured step a run, here ×8, as an operator who starts from a pool far
	// below the slack would set it (×2 takes five runs).
	after, steps := before, 0
	for steps < 4 && fell(before, after) < 0.9 {
		s := changed(t, l.applyOnce(load), "sysctl:net.ipv4.udp_mem")
		steps++
		if got := sysctl(t, nil, "net.ipv4.udp_mem"); got != s.Got {
			t.Errorf("udp_mem = %s, apply reported %s", got, s.Got)
		}
		after = loss()
		t.Logf("step %d: udp_mem %s → %s: share of a burst of %d refused %.2f → %.2f", steps, s.Current, s.Got, udpMemBurst, before, after)
	}
	if f := fell(before, after); f < 0.9 {
		t.Errorf("loss fell by %.0f%% after %d steps (%.2f → %.2f), want ≥ 90%%", 100*f, steps, before, after)
	}
	noKnob(t, d, "sysctl:net.core.rmem_", "sysctl:net.ipv4.tcp_rmem")

	l.rollback()
	if got := sysctl(t, nil, "net.ipv4.udp_mem"); got != low {
		t.Errorf("udp_mem after rollback = %s, want %s", got, low)
	}
}

// neighLoopTargets is how many addresses TestClosedLoopNeighTable's load needs entries for:
// more than lab.NeighHeadroom, so the lowered table refuses some; fewer than the table's size
// after one step (gc_thresh3 to twice the entries it held), so all of them fit.
const neighLoopTargets = 96

// tableFulls is the host's ARP table_fulls.
func tableFulls(t *testing.T) uint64 {
	t.Helper()
	tables, err := kstat.ReadNeighTables("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if tb.Name == "arp_cache" {
			return tb.Counters["table_fulls"]
		}
	}
	t.Fatal("no arp_cache table")
	return 0
}

// TestClosedLoopNeighTable: gc_thresh3 lowered for the whole test to the ARP table's size
// plus lab.NeighHeadroom (read first, put back at cleanup); A sends to neighLoopTargets
// addresses nobody answers, so some entries cannot be created. advise names neigh with the
// gc_thresh knobs, apply raises them, the same load creates every entry, rollback puts back
// the lowered value.
func TestClosedLoopNeighTable(t *testing.T) {
	lab.RequireRoot(t)
	v := pair(t)
	l := newLoop(t, v.A)
	for _, k := range []string{"gc_thresh1", "gc_thresh2", "gc_thresh3"} {
		key := "net.ipv4.neigh.default." + k
		lab.SetSysctl(t, nil, key, sysctl(t, nil, key))
	}
	if err := lab.NeighOnLink(t, v); err != nil {
		t.Fatal(err)
	}
	low := lab.LowerNeighTable(t)
	load := func(ctx context.Context) {
		if _, err := lab.NeighSend(ctx, v, neighLoopTargets); err != nil {
			t.Error(err)
		}
	}
	loss := func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		f0 := tableFulls(t)
		r, err := lab.NeighSend(ctx, v, neighLoopTargets)
		if err != nil {
			t.Fatal(err)
		}
		return ratio(tableFulls(t)-f0, uint64(r.Sent))
	}
	before := loss()
	if before < 0.05 {
		t.Fatalf("only %.1f%% of datagrams found the table full: the scenario proves nothing", 100*before)
	}

	d := l.advise(load, ExitLoss)
	knob := "sysctl:net.ipv4.neigh.default.gc_thresh3"
	id := "neigh/" + v.A.Name + "/table"
	table := false
	for _, f := range d.Findings {
		table = table || f.ID == id && f.Class == "capacity"
	}
	if !table || !proposes(d, id, knob) {
		t.Fatalf("findings %+v, plan %+v; want %s, capacity, with gc_thresh3", d.Findings, d.Plan, id)
	}

	after, steps := before, 0
	for steps < 3 && fell(before, after) < 0.9 {
		s := changed(t, l.applyOnce(load), knob)
		steps++
		if got := sysctl(t, nil, "net.ipv4.neigh.default.gc_thresh3"); got != s.Got {
			t.Errorf("gc_thresh3 = %s, apply reported %s", got, s.Got)
		}
		after = loss()
		t.Logf("step %d: gc_thresh3 %s → %s: table_fulls per datagram %.3f → %.3f", steps, s.Current, s.Got, before, after)
	}
	if f := fell(before, after); f < 0.9 {
		t.Errorf("loss fell by %.0f%% after %d steps (%.3f → %.3f), want ≥ 90%%", 100*f, steps, before, after)
	}

	l.rollback()
	if got := sysctl(t, nil, "net.ipv4.neigh.default.gc_thresh3"); got != strconv.Itoa(low) {
		t.Errorf("gc_thresh3 after rollback = %s, want %d", got, low)
	}
}

// TestClosedLoopTCPMemPool: tcp_mem lowered for the whole test (read first, put back at
// cleanup); connections whose receiver never reads fill the pool and the receiver drops
// data its windows had room for. advise names tcp-rcvbuf with tcp_mem (never tcp_rmem),
// apply raises it, the same load then stops at closed windows instead, and rollback puts
// back the value nettune found.
func TestClosedLoopTCPMemPool(t *testing.T) {
	lab.RequireRoot(t)
	v := pair(t)
	l := newLoop(t, v.B)
	l.config = writeConfig(t, "policy:\n  step: 8\n")
	lab.LowerTCPMem(t)
	low := sysctl(t, nil, "net.ipv4.tcp_mem")
	load := func(ctx context.Context) {
		if _, err := lab.TCPMemLoad(ctx, t, v); err != nil {
			t.Error(err)
		}
	}
	drops := []string{"TcpExt.TCPRcvQDrop", "TcpExt.TCPOFODrop", "TcpExt.PruneCalled", "Tcp.InSegs"}
	loss := func() float64 {
		c := counting(t, v.B, drops, func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			load(ctx)
		})
		return ratio(c["TcpExt.TCPRcvQDrop"]+c["TcpExt.TCPOFODrop"], c["Tcp.InSegs"])
	}
	before := loss()
	if before < 0.01 {
		t.Fatalf("the receiver dropped only %.2f%% of segments: the scenario proves nothing", 100*before)
	}

	d := l.advise(load, ExitLoss)
	f := d.Findings[findingAt(t, d, "tcp-rcvbuf", "")]
	if f.Class != "capacity" || !proposes(d, f.ID, "sysctl:net.ipv4.tcp_mem") {
		t.Fatalf("finding %+v, plan %+v; want tcp-rcvbuf/capacity with tcp_mem", f, d.Plan)
	}
	noKnob(t, d, "sysctl:net.ipv4.tcp_rmem", "sysctl:net.core.rmem_")

	after, steps := before, 0
	for steps < 4 && fell(before, after) < 0.9 {
		s := changed(t, l.applyOnce(load), "sysctl:net.ipv4.tcp_mem")
		steps++
		after = loss()
		t.Logf("step %d: tcp_mem %s → %s: receiver drops per segment %.4f → %.4f", steps, s.Current, s.Got, before, after)
	}
	if f := fell(before, after); f < 0.9 {
		t.Errorf("loss fell by %.0f%% after %d steps (%.4f → %.4f), want ≥ 90%%", 100*f, steps, before, after)
	}

	l.rollback()
	if got := sysctl(t, nil, "net.ipv4.tcp_mem"); got != low {
		t.Errorf("tcp_mem after rollback = %s, want %s", got, low)
	}
}

// TCP memory pressure without loss: tcp_mem's pressure threshold lowered, its hard limit
// left where it was, and connections whose receiver never reads: an info finding in the
// receiver's namespace and nothing to change.
func TestVerdictTCPMemPressureIsInfo(t *testing.T) {
	lab.RequireRoot(t)
	lab.Global(t)
	f := strings.Fields(sysctl(t, nil, "net.ipv4.tcp_mem"))
	lab.SetSysctl(t, nil, "net.ipv4.tcp_mem", "20 50 "+f[2])
	v := pair(t)
	d, code, stderr := underLoss(t, v, lab.TCPMemLoad, v.B, "--no-bpf")
	var found bool
	for _, x := range d.Findings {
		if x.ID == "tcp-rcvbuf/"+v.B.Name+"/memory-pressure" {
			found = x.Severity == "info"
		}
	}
	if !found || code != ExitOK {
		t.Errorf("exit %d, findings %+v (stderr %s)", code, d.Findings, stderr)
	}
	noKnob(t, d, "sysctl:net.ipv4.tcp_mem", "sysctl:net.ipv4.tcp_rmem", "sysctl:net.core.high_order_alloc_disable")
	// Where the kernel has high_order_alloc_disable and it is off, pressure gets it as
	// advice (never a change).
	if v, err := os.ReadFile("/proc/sys/net/core/high_order_alloc_disable"); err == nil && strings.TrimSpace(string(v)) == "0" &&
		!slices.ContainsFunc(d.Advice, func(a string) bool { return strings.Contains(a, "high_order_alloc_disable=1") }) {
		t.Errorf("no high_order_alloc_disable advice under TCP memory pressure: %q", d.Advice)
	}
}

// ctLoopFlows is how many UDP flows TestClosedLoopConntrack keeps sending on: more than
// ctTableMax entries hold, fewer than one ×2 step of it.
const ctLoopFlows = 24

// TestClosedLoopConntrack: the host-wide nf_conntrack_max lowered to ctTableMax for the whole
// test (read first, put back at cleanup) and ctLoopFlows fixed UDP flows from A into B, whose
// ruleset makes conntrack track them: the flows without an entry lose their datagrams.
// advise names the conntrack table with nf_conntrack_max, apply raises it, the same flows
// then all pass, and rollback puts back the value nettune found.
func TestClosedLoopConntrack(t *testing.T) {
	lab.RequireRoot(t)
	if _, err := os.Stat("/proc/sys/net/netfilter/nf_conntrack_max"); err != nil {
		t.Skip("kernel without conntrack")
	}
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("nft not installed (make deps-test installs nftables): conntrack tracks only where a rule needs it")
	}
	v := pair(t)
	l := newLoop(t, v.B)
	v.B.Do(t, func() error {
		cmd := exec.Command(nft, "-f", "-")
		cmd.Stdin = strings.NewReader(ctRuleset)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft: %v: %s", err, out)
		}
		return nil
	})
	lab.SetSysctl(t, nil, "net.netfilter.nf_conntrack_max", ctTableMax)
	sink := lab.UDPSink(t, v.B, v.BAddr+":0", lab.SinkOpts{Read: true})
	dst, err := net.ResolveUDPAddr("udp4", sink.Addr())
	if err != nil {
		t.Fatal(err)
	}
	var flows []*net.UDPConn
	err = netns.Do(v.A.Name, func() error {
		for range ctLoopFlows {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{})
			if err != nil {
				return err
			}
			flows = append(flows, c)
		}
		return nil
	})
	t.Cleanup(func() {
		for _, c := range flows {
			c.Close()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// send: one datagram on every flow in turn, every millisecond, until ctx ends
	send := func(ctx context.Context) (sent int) {
		buf := make([]byte, 64)
		for ctx.Err() == nil {
			for _, c := range flows {
				if _, err := c.WriteTo(buf, dst); err == nil {
					sent++
				}
			}
			time.Sleep(time.Millisecond)
		}
		return sent
	}
	load := func(ctx context.Context) { send(ctx) }
	loss := func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		r0 := sink.Received()
		sent := send(ctx)
		time.Sleep(50 * time.Millisecond) // the sink reads what is queued
		return 1 - float64(sink.Received()-r0)/float64(sent)
	}
	before := loss()
	if before < 0.1 {
		t.Fatalf("only %.1f%% of datagrams lost with nf_conntrack_max %s: the scenario proves nothing", 100*before, ctTableMax)
	}

	knob := "sysctl:net.netfilter.nf_conntrack_max"
	d := l.advise(load, ExitLoss)
	id := "netfilter/" + v.B.Name + "/conntrack"
	if top := d.Findings[0]; top.ID != id || top.Class != "capacity" || !proposes(d, id, knob) {
		t.Fatalf("top finding %s (%s), plan %+v; want %s with nf_conntrack_max", top.ID, top.Class, d.Plan, id)
	}

	after, steps := before, 0
	for steps < 3 && fell(before, after) < 0.9 {
		s := changed(t, l.applyOnce(load), knob)
		steps++
		after = loss()
		t.Logf("step %d: nf_conntrack_max %s → %s: datagrams lost %.3f → %.3f", steps, s.Current, s.Got, before, after)
	}
	if f := fell(before, after); f < 0.9 {
		t.Errorf("loss fell by %.0f%% after %d steps (%.3f → %.3f), want ≥ 90%%", 100*f, steps, before, after)
	}

	l.rollback()
	if got := sysctl(t, nil, "net.netfilter.nf_conntrack_max"); got != ctTableMax {
		t.Errorf("nf_conntrack_max after rollback = %s, want %s", got, ctTableMax)
	}
}
