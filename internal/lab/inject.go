package lab

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// InjectMax bounds every injector whose ctx never ends.
const InjectMax = time.Minute

// Injector settings, chosen so the target counter moves within a second on 2 noisy CPUs.
const (
	TinyRcvBuf        = 4096                 // SO_RCVBUF request of InjectUDPRcvbuf (the kernel grants more)
	LowMaxBacklog     = 16                   // net.core.netdev_max_backlog during InjectBacklog
	BacklogGap        = 5 * time.Millisecond // between InjectBacklog's GSO bursts
	QdiscLimit        = 5                    // pfifo limit (packets) of InjectQdisc
	QdiscBurst        = 64                   // datagrams per burst in InjectQdisc: a limit ≥ this stops the drops
	ShaperRate        = 12500000             // tbf rate (bytes/s, 100 Mbit/s) of InjectQdisc
	AcceptBacklog     = 1                    // listen() backlog of InjectAcceptQueue
	LowFragHighThresh = 64 << 10             // net.ipv4.ipfrag_high_thresh of B during InjectReassembly
	ScanPortFirst     = 33434                // InjectPortScan probes ports ScanPortFirst..+ScanPorts-1
	ScanPorts         = 100
	bigRcvBuf         = 4 << 20 // sinks that must not drop themselves
)

// InjectUDPRcvbuf floods a never-read UDP socket on B whose receive buffer is TinyRcvBuf.
func InjectUDPRcvbuf(ctx context.Context, t testing.TB, v *Veth) (FloodResult, error) {
	sink, err := udpSink(t, v.B, v.BAddr+":0", SinkOpts{RcvBuf: TinyRcvBuf})
	if err != nil {
		return FloodResult{}, fmt.Errorf("inject udp rcvbuf: %w", err)
	}
	return floodUntil(ctx, v.A, sink.Addr(), FloodOpts{Flows: 4, Size: 256})
}

// InjectBacklog steers all of B's receive processing to one CPU with RPS, lowers the global
// net.core.netdev_max_backlog to LowMaxBacklog, and sends GSO bursts (GSOFlood) from A pinned
// to another CPU.
func InjectBacklog(ctx context.Context, t testing.TB, v *Veth) (FloodResult, error) {
	Global(t)
	target, others, err := backlogCPUs()
	if err != nil {
		return FloodResult{}, fmt.Errorf("inject backlog: %w", err)
	}
	for q := range v.Queues {
		if err := setRPS(t, v.B, v.BName, q, cpuMask(target)); err != nil {
			return FloodResult{}, fmt.Errorf("inject backlog: %w", err)
		}
	}
	if err := setSysctl(t, nil, "net.core.netdev_max_backlog", fmt.Sprint(LowMaxBacklog)); err != nil {
		return FloodResult{}, fmt.Errorf("inject backlog: %w", err)
	}
	if err := setFeature(t, v.A, v.AName, "tx-udp-segmentation", false); err != nil {
		return FloodResult{}, fmt.Errorf("inject backlog: %w", err)
	}
	sink, err := udpSink(t, v.B, v.BAddr+":0", SinkOpts{RcvBuf: bigRcvBuf, Read: true})
	if err != nil {
		return FloodResult{}, fmt.Errorf("inject backlog: %w", err)
	}
	// A few hundred bursts a second keep the reading sink far from its own limits.
	return GSOFlood(ctx, v.A, sink.Addr(), others[0], BacklogGap, InjectMax)
}

// InjectQdisc shapes A's egress (SetShaper: tbf at ShaperRate over pfifo limit QdiscLimit)
// and sends bursts of QdiscBurst 1000-byte datagrams from A to B at about half the rate.
// A root pfifo alone never fills on veth: veth stops its TX queue only when the peer's NAPI
// ring is full, so the qdisc is drained as fast as it is filled.
func InjectQdisc(ctx context.Context, t testing.TB, v *Veth) (FloodResult, error) {
	if err := setShaper(t, v.A, v.AName, ShaperRate, "pfifo", QdiscLimit); err != nil {
		return FloodResult{}, fmt.Errorf("inject qdisc: %w", err)
	}
	sink, err := udpSink(t, v.B, v.BAddr+":0", SinkOpts{RcvBuf: bigRcvBuf, Read: true})
	if err != nil {
		return FloodResult{}, fmt.Errorf("inject qdisc: %w", err)
	}
	pps := ShaperRate / 1000 / 2
	return floodUntil(ctx, v.A, sink.Addr(), FloodOpts{Flows: 4, Size: 1000, PPS: pps, Burst: QdiscBurst})
}

// InjectAcceptQueue listens on B with backlog AcceptBacklog, never accepts, and opens
// connections from A in storms until ctx ends. Sent counts connection attempts, Errors the
// attempts whose handshake did not complete.
func InjectAcceptQueue(ctx context.Context, t testing.TB, v *Veth) (FloodResult, error) {
	l, err := tcpListen(t, v.B, v.BAddr+":0", AcceptBacklog, false)
	if err != nil {
		return FloodResult{}, fmt.Errorf("inject accept queue: %w", err)
	}
	return connectStorms(ctx, v, l.Addr(), 32), nil
}

// connectStorms connects from A to addr, conns at a time, until ctx ends or InjectMax passes.
func connectStorms(ctx context.Context, v *Veth, addr string, conns int) FloodResult {
	ctx, cancel := context.WithTimeout(ctx, InjectMax)
	defer cancel()
	var r FloodResult
	start := time.Now()
	for ctx.Err() == nil {
		ok, failed := TCPConnectStorm(ctx, v.A, addr, conns, 100*time.Millisecond)
		r.Sent += ok + failed
		r.Errors += failed
	}
	r.Elapsed = time.Since(start)
	return r
}

// InjectReassembly lowers B's net.ipv4.ipfrag_high_thresh to LowFragHighThresh (and
// ipfrag_low_thresh below it, which the kernel requires) and sends 8–60 KiB datagrams from A.
func InjectReassembly(ctx context.Context, t testing.TB, v *Veth) (FloodResult, error) {
	// The kernel keeps low ≤ high: lower low first; cleanups run in reverse and restore high first.
	if err := setSysctl(t, v.B, "net.ipv4.ipfrag_low_thresh", fmt.Sprint(LowFragHighThresh*3/4)); err != nil {
		return FloodResult{}, fmt.Errorf("inject reassembly: %w", err)
	}
	if err := setSysctl(t, v.B, "net.ipv4.ipfrag_high_thresh", fmt.Sprint(LowFragHighThresh)); err != nil {
		return FloodResult{}, fmt.Errorf("inject reassembly: %w", err)
	}
	sink, err := udpSink(t, v.B, v.BAddr+":0", SinkOpts{RcvBuf: bigRcvBuf, Read: true})
	if err != nil {
		return FloodResult{}, fmt.Errorf("inject reassembly: %w", err)
	}
	return FragmentedUDP(ctx, v.A, sink.Addr(), FloodOpts{Packets: math.MaxInt, Duration: InjectMax, Flows: 4})
}

// InjectPortScan sends UDP from A to ScanPorts closed ports of B, about 20,000 datagrams a
// second, until ctx ends.
func InjectPortScan(ctx context.Context, t testing.TB, v *Veth) (FloodResult, error) {
	ports := make([]int, ScanPorts)
	for i := range ports {
		ports[i] = ScanPortFirst + i
	}
	ctx, cancel := context.WithTimeout(ctx, InjectMax)
	defer cancel()
	var r FloodResult
	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		s, err := PortScan(ctx, v.A, v.BAddr, ports)
		r.Sent += s.Sent
		r.Errors += s.Errors
		if err != nil {
			return r, fmt.Errorf("inject port scan: %w", err)
		}
		select {
		case <-ctx.Done():
			r.Elapsed = time.Since(start)
			return r, nil
		case <-tick.C:
		}
	}
}

// floodUntil floods without a packet bound until ctx ends (at most InjectMax).
func floodUntil(ctx context.Context, from *NS, dst string, o FloodOpts) (FloodResult, error) {
	o.Packets, o.Duration = math.MaxInt, InjectMax
	return UDPFlood(ctx, from, dst, o)
}

// backlogCPUs picks the CPU that InjectBacklog steers receive work to (the highest one this
// process may run on) and the CPUs left for the sender.
func backlogCPUs() (target int, others []int, err error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return 0, nil, fmt.Errorf("cpu affinity: %w", err)
	}
	var cpus []int
	for c := range len(set) * 64 {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) < 2 {
		return 0, nil, fmt.Errorf("backlog overflow needs 2 cpus, have %d: %w", len(cpus), ErrUnsupported)
	}
	return cpus[len(cpus)-1], cpus[:len(cpus)-1], nil
}

// cpuMask formats a one-CPU mask the way rps_cpus expects: comma-separated 32-bit hex words.
func cpuMask(cpu int) string {
	words := make([]string, cpu/32+1)
	for i := range words {
		words[i] = "00000000"
	}
	words[0] = fmt.Sprintf("%08x", uint32(1)<<(cpu%32))
	return strings.Join(words, ",")
}
