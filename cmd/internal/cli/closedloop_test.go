package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	bpflink "github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/apply"
	"github.com/nettune/nettune/collect/kstat"
	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/render"
)

// The closed-loop tests (issue 4) run the whole remediation on the real kernel: inject loss
// at a known stage between two lab namespaces, let `nettune advise` name it, let `nettune
// apply` change the knob, re-run the same load and check the loss fell, then `nettune
// rollback` and check the values nettune found are back. Loss is measured by the test itself
// from the kernel's counters (ratios, never exact counts: 2 noisy CPUs). Every global sysctl
// an apply may touch is first recorded with lab.SetSysctl, so it is restored even when the
// test fails before rollback.

// globalKnobs are the host-wide sysctls any plan of these scenarios can raise.
var globalKnobs = []string{
	"net.core.rmem_default", "net.core.rmem_max", "net.core.netdev_max_backlog",
	"net.core.netdev_budget", "net.core.netdev_budget_usecs", "net.ipv4.udp_mem", "net.ipv4.tcp_mem",
}

// loop is one closed-loop run: the namespace nettune is pointed at, its state directory and
// config file.
type loop struct {
	t        *testing.T
	ns       *lab.NS
	stateDir string
	config   string // --config file, "" for none
}

// newLoop takes the global lock, records every global knob so cleanup restores it, and
// registers a rollback that runs (before those restores) if the test stops early.
func newLoop(t *testing.T, ns *lab.NS) *loop {
	t.Helper()
	lab.Global(t)
	for _, k := range globalKnobs {
		lab.SetSysctl(t, nil, k, sysctl(t, nil, k))
	}
	l := &loop{t: t, ns: ns, stateDir: t.TempDir()}
	t.Cleanup(func() {
		if code, out, stderr := run(t, l.args("rollback")...); code != ExitOK {
			t.Errorf("cleanup rollback: exit %d: %s%s", code, out, stderr)
		}
	})
	return l
}

// args prefixes a command with the loop's --config and --state-dir.
func (l *loop) args(cmd string, more ...string) []string {
	a := []string{cmd, "--state-dir", l.stateDir}
	if l.config != "" {
		a = append(a, "--config", l.config)
	}
	return append(a, more...)
}

// applyOnce runs `nettune apply --netns NS --interval 2s -o json` (plus extra flags) while
// load runs, and returns its result.
func (l *loop) applyOnce(load func(ctx context.Context), extra ...string) *apply.Result {
	l.t.Helper()
	var res apply.Result
	args := l.args("apply", append([]string{"--netns", l.ns.Name, "--interval", "2s", "-o", "json"}, extra...)...)
	var code int
	var out, stderr string
	during(load, func() { code, out, stderr = run(l.t, args...) })
	if code != ExitOK {
		l.t.Fatalf("apply: exit %d: %s%s", code, out, stderr)
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		l.t.Fatalf("apply output is not JSON: %v\n%s", err, out)
	}
	return &res
}

// rollback runs `nettune rollback` and fails the test unless it succeeds.
func (l *loop) rollback() *apply.Result {
	l.t.Helper()
	var res apply.Result
	code, out, stderr := run(l.t, l.args("rollback", "-o", "json")...)
	if code != ExitOK {
		l.t.Fatalf("rollback: exit %d: %s%s", code, out, stderr)
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		l.t.Fatalf("rollback output is not JSON: %v\n%s", err, out)
	}
	return &res
}

// advise runs `nettune advise --no-bpf` against the loop's namespace while load runs and
// checks its exit status (ExitLoss: a capacity finding; ExitOK: none). The probes stay off:
// native XDP on veth would move receive processing into veth's NAPI ring and change the very
// path under test.
func (l *loop) advise(load func(ctx context.Context), wantCode int) adviseDoc {
	l.t.Helper()
	var d adviseDoc
	var code int
	var stderr string
	during(load, func() { d, code, stderr = runAdvise(l.t, "--no-bpf", "--netns", l.ns.Name, "--interval", "2s") })
	if code != wantCode || len(d.Findings) == 0 {
		l.t.Fatalf("advise: exit %d with %d findings, want exit %d and findings; stderr: %s", code, len(d.Findings), wantCode, stderr)
	}
	return d
}

// during runs load until fn returns.
func during(load func(ctx context.Context), fn func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { load(ctx) })
	defer wg.Wait()
	defer cancel()
	time.Sleep(300 * time.Millisecond) // let the condition build up before the first sample
	fn()
}

// changed returns the step that changed knob, or fails the test.
func changed(t *testing.T, res *apply.Result, knob string) apply.Step {
	t.Helper()
	for _, s := range res.Steps {
		if s.Knob == knob && s.Decision == apply.DecideChange {
			return s
		}
	}
	t.Fatalf("apply did not change %s: %+v", knob, res.Steps)
	return apply.Step{}
}

// oneStep checks that a numeric knob moved exactly one ×2 step from what apply found.
func oneStep(t *testing.T, s apply.Step) {
	t.Helper()
	cur, err1 := strconv.ParseInt(s.Current, 10, 64)
	got, err2 := strconv.ParseInt(s.Got, 10, 64)
	if err1 != nil || err2 != nil || got != 2*cur {
		t.Errorf("%s: %s → %s, want one ×2 step", s.Knob, s.Current, s.Got)
	}
}

// sysctl reads a dotted key inside ns (nil = the test's own namespace).
func sysctl(t *testing.T, ns *lab.NS, key string) string {
	t.Helper()
	var v []byte
	err := netns.Do(nsName(ns), func() error {
		var err error
		v, err = os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
		return err
	})
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return strings.Join(strings.Fields(string(v)), " ")
}

func nsName(ns *lab.NS) string {
	if ns == nil {
		return ""
	}
	return ns.Name
}

// snmp reads the SNMP/netstat counters of ns.
func snmp(t *testing.T, ns *lab.NS) map[string]uint64 {
	t.Helper()
	var m map[string]uint64
	err := netns.Do(ns.Name, func() error {
		var err error
		m, err = kstat.ReadSNMP("/proc")
		return err
	})
	if err != nil {
		t.Fatalf("snmp in %s: %v", ns.Name, err)
	}
	return m
}

// counting measures how much the given SNMP counters of ns move while fn runs.
func counting(t *testing.T, ns *lab.NS, keys []string, fn func()) map[string]uint64 {
	t.Helper()
	before := snmp(t, ns)
	fn()
	after := snmp(t, ns)
	d := map[string]uint64{}
	for _, k := range keys {
		d[k] = after[k] - before[k]
	}
	return d
}

// fell is the share by which loss fell from before (> 0, checked by each test) to after.
func fell(before, after float64) float64 { return 1 - after/before }

// ratio is a ÷ b, 0 when nothing was measured.
func ratio(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// addrPort parses "ip:port".
func addrPort(t *testing.T, addr string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// app is a test application in B that works in batches: it drains its socket (reads every
// datagram, or accepts and closes every connection), then sleeps batchPause. A burst that
// arrives while it sleeps must fit the socket's queue. It never sets SO_RCVBUF, so a UDP
// socket gets net.core.rmem_default as it was when the socket was opened; a TCP one listens
// with appBacklog, which the kernel caps at somaxconn as it was when listen() was called.
// Either way a changed sysctl reaches the application only when it restarts.
type app struct {
	fd     int
	stream bool
	addr   string
	rcvbuf int
	stop   chan struct{}
	wg     sync.WaitGroup
}

const (
	batchPause = 20 * time.Millisecond
	appBacklog = 4096
)

// startApp opens a UDP (stream false) or listening TCP socket on ip:0 in ns.
func startApp(t *testing.T, ns *lab.NS, ip string, stream bool) *app {
	t.Helper()
	a := &app{fd: -1, stream: stream, stop: make(chan struct{})}
	typ := unix.SOCK_DGRAM
	if stream {
		typ = unix.SOCK_STREAM
	}
	err := netns.Do(ns.Name, func() error {
		fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		a.fd = fd
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: netip.MustParseAddr(ip).As4()}); err != nil || !stream {
			return err
		}
		return unix.Listen(fd, appBacklog)
	})
	if err == nil {
		a.rcvbuf, err = unix.GetsockoptInt(a.fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	}
	var sa unix.Sockaddr
	if err == nil {
		sa, err = unix.Getsockname(a.fd)
	}
	if err != nil {
		if a.fd >= 0 {
			unix.Close(a.fd)
		}
		t.Fatalf("application in %s: %v", ns.Name, err)
	}
	a.addr = fmt.Sprintf("%s:%d", ip, sa.(*unix.SockaddrInet4).Port)
	a.wg.Go(a.loop)
	t.Cleanup(a.close)
	return a
}

func (a *app) loop() {
	buf := make([]byte, 2048)
	for {
		for a.next(buf) {
		}
		select {
		case <-a.stop:
			return
		case <-time.After(batchPause):
		}
	}
}

// next reads one datagram or accepts (and closes) one connection; false when none is queued.
func (a *app) next(buf []byte) bool {
	if !a.stream {
		_, _, err := unix.Recvfrom(a.fd, buf, 0)
		return err == nil
	}
	c, _, err := unix.Accept4(a.fd, unix.SOCK_CLOEXEC)
	if err == nil {
		unix.Close(c)
	}
	return err == nil
}

// close stops the application and closes its socket (idempotent).
func (a *app) close() {
	select {
	case <-a.stop:
		return
	default:
	}
	close(a.stop)
	a.wg.Wait()
	unix.Close(a.fd)
}

// atLeast raises a sysctl of ns to min (restored at cleanup) unless it is already there: a
// host left with a tiny netdev_max_backlog would add backlog drops to a scenario about
// another stage.
func atLeast(t *testing.T, ns *lab.NS, key string, min int64) {
	t.Helper()
	cur, err := strconv.ParseInt(sysctl(t, ns, key), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	if cur < min {
		lab.SetSysctl(t, ns, key, strconv.FormatInt(min, 10))
	}
}

// The UDP scenario: datagrams of udpSize bytes in bursts of udpBurst, ten bursts a second.
// About 20 such datagrams fit a 32 KiB buffer (truesize ≈ 1.5 KB each on veth), so a burst
// that arrives while the application sleeps between batches overflows it, and fits one of
// 64 KiB: one ×2 step suffices (measured: 19–29 % loss before, 0 % after).
const (
	udpSize    = 512
	udpBurst   = 32
	udpLowRmem = 32 << 10
)

func udpBursts(ctx context.Context, v *lab.Veth, dst string, d time.Duration) lab.FloodResult {
	r, _ := lab.UDPFlood(ctx, v.A, dst, lab.FloodOpts{Size: udpSize, Flows: 4, PPS: 10 * udpBurst,
		Burst: udpBurst, Duration: d, Packets: math.MaxInt})
	return r
}

func TestClosedLoopUDPRcvbuf(t *testing.T) {
	lab.RequireRoot(t)
	v := pair(t)
	l := newLoop(t, v.B)
	atLeast(t, nil, "net.core.netdev_max_backlog", 1000)
	rmemMax := sysctl(t, nil, "net.core.rmem_max")
	lab.SetSysctl(t, nil, "net.core.rmem_default", strconv.Itoa(udpLowRmem))

	app := startApp(t, v.B, v.BAddr, false)
	load := func(ctx context.Context) { udpBursts(ctx, v, app.addr, time.Minute) }
	loss := func() float64 {
		var sent int
		c := counting(t, v.B, []string{"Udp.RcvbufErrors"}, func() { sent = udpBursts(context.Background(), v, app.addr, time.Second).Sent })
		return ratio(c["Udp.RcvbufErrors"], uint64(sent))
	}
	before := loss()
	if before < 0.05 {
		t.Fatalf("only %.1f%% of datagrams overflowed a %d-byte buffer: the scenario proves nothing", 100*before, app.rcvbuf)
	}

	d := l.advise(load, ExitLoss)
	if top := d.Findings[0]; top.Stage != "udp-rcvbuf" || top.Class != "capacity" || !proposes(d, top.ID, "sysctl:net.core.rmem_default") {
		t.Fatalf("top finding %s/%s (%s), plan %+v; want udp-rcvbuf/capacity with rmem_default", top.Stage, top.Class, top.ID, d.Plan)
	}

	after, steps := before, 0
	for steps < 3 && fell(before, after) < 0.9 {
		s := changed(t, l.applyOnce(load), "sysctl:net.core.rmem_default")
		oneStep(t, s)
		steps++
		// rmem_default applies to sockets opened after the change: the application restarts.
		app.close()
		app = startApp(t, v.B, v.BAddr, false)
		if want, _ := strconv.Atoi(s.Got); app.rcvbuf != want {
			t.Errorf("restarted application got SO_RCVBUF %d, want the new rmem_default %d", app.rcvbuf, want)
		}
		after = loss()
		t.Logf("step %d: rmem_default %s → %s: loss %.2f%% → %.2f%%", steps, s.Current, s.Got, 100*before, 100*after)
	}
	if f := fell(before, after); f < 0.9 {
		t.Errorf("loss fell by %.0f%% after %d steps (%.2f%% → %.2f%%), want ≥ 90%%", 100*f, steps, 100*before, 100*after)
	}

	l.rollback()
	if got := sysctl(t, nil, "net.core.rmem_default"); got != strconv.Itoa(udpLowRmem) {
		t.Errorf("rmem_default after rollback = %s, want %d", got, udpLowRmem)
	}
	if got := sysctl(t, nil, "net.core.rmem_max"); got != rmemMax {
		t.Errorf("rmem_max after rollback = %s, want %s", got, rmemMax)
	}
}

// The accept-queue scenario: storms of stormSize connections, ten a second, against a server
// whose effective backlog is B's somaxconn, lowered to acceptLow. The queue holds backlog+1
// connections, so about half of each storm overflows; at 2 × acceptLow the storm fits.
const (
	stormSize = 32
	acceptLow = 16
)

// storms opens size connections to dst() every 100 ms until ctx ends or d passes, and
// returns the attempts made. dst is asked before each storm: the server may restart.
func storms(ctx context.Context, v *lab.Veth, dst func() string, size int, d time.Duration) int {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	n := 0
	for {
		ok, failed := lab.TCPConnectStorm(ctx, v.A, dst(), size, 50*time.Millisecond)
		n += ok + failed
		select {
		case <-ctx.Done():
			return n
		case <-tick.C:
		}
	}
}

func TestClosedLoopAcceptQueue(t *testing.T) {
	lab.RequireRoot(t)
	v := pair(t)
	l := newLoop(t, v.B)
	atLeast(t, nil, "net.core.netdev_max_backlog", 1000)
	rootSomaxconn := sysctl(t, nil, "net.core.somaxconn")
	lab.SetSysctl(t, v.B, "net.core.somaxconn", strconv.Itoa(acceptLow))

	app := startApp(t, v.B, v.BAddr, true)
	addr := func() string { return app.addr }
	load := func(ctx context.Context) { storms(ctx, v, addr, stormSize, time.Minute) }
	loss := func() float64 {
		var tried int
		c := counting(t, v.B, []string{"TcpExt.ListenOverflows"}, func() { tried = storms(context.Background(), v, addr, stormSize, time.Second) })
		return ratio(c["TcpExt.ListenOverflows"], uint64(tried))
	}
	before := loss()
	if before < 0.05 {
		t.Fatalf("only %.1f%% of connection attempts overflowed: the scenario proves nothing", 100*before)
	}

	d := l.advise(load, ExitLoss)
	if top := d.Findings[0]; top.Stage != "tcp-accept-queue" || top.Class != "capacity" || !proposes(d, top.ID, "sysctl:net.core.somaxconn") {
		t.Fatalf("top finding %s/%s (%s), plan %+v; want tcp-accept-queue/capacity with somaxconn", top.Stage, top.Class, top.ID, d.Plan)
	}

	after, steps := before, 0
	for steps < 3 && fell(before, after) < 0.9 {
		s := changed(t, l.applyOnce(load), "sysctl:net.core.somaxconn")
		oneStep(t, s)
		steps++
		if s.Netns != v.B.Name {
			t.Errorf("somaxconn changed in netns %q, want %s", s.Netns, v.B.Name)
		}
		if got := sysctl(t, v.B, "net.core.somaxconn"); got != s.Got {
			t.Errorf("somaxconn in %s = %s, apply reported %s", v.B.Name, got, s.Got)
		}
		if got := sysctl(t, nil, "net.core.somaxconn"); got != rootSomaxconn {
			t.Errorf("somaxconn of the test's own namespace changed: %s → %s", rootSomaxconn, got)
		}
		// The backlog is fixed at listen(): until the server listens again nothing changes.
		if stale := loss(); stale < before/2 {
			t.Errorf("ListenOverflows per attempt fell to %.2f before the server listened again (was %.2f)", stale, before)
		}
		app.close()
		app = startApp(t, v.B, v.BAddr, true)
		after = loss()
		t.Logf("step %d: somaxconn %s → %s: ListenOverflows per attempt %.2f → %.2f", steps, s.Current, s.Got, before, after)
	}
	if f := fell(before, after); f < 0.9 {
		t.Errorf("loss fell by %.0f%% after %d steps (%.2f → %.2f), want ≥ 90%%", 100*f, steps, before, after)
	}

	l.rollback()
	if got := sysctl(t, v.B, "net.core.somaxconn"); got != strconv.Itoa(acceptLow) {
		t.Errorf("somaxconn in %s after rollback = %s, want %d", v.B.Name, got, acceptLow)
	}
}

// background runs an injector for the rest of the test; the returned stop ends it and
// reports its error. Call stop before the test returns (defer), so traffic stops before the
// injector's cleanups restore what it changed.
func background(t *testing.T, v *lab.Veth, inject injector) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := inject(ctx, t, v)
		done <- err
	}()
	select {
	case err := <-done:
		cancel()
		if errors.Is(err, lab.ErrUnsupported) {
			t.Skipf("injector: %v", err)
		}
		t.Fatalf("injector stopped at once: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	return func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("injector: %v", err)
		}
	}
}

func idle(context.Context) {}

func TestClosedLoopReassembly(t *testing.T) {
	lab.RequireRoot(t)
	v := pair(t)
	l := newLoop(t, v.B)
	atLeast(t, nil, "net.core.netdev_max_backlog", 1000)
	rootThresh := sysctl(t, nil, "net.ipv4.ipfrag_high_thresh")
	// The injector runs throughout: it lowers B's ipfrag_high_thresh once, and a second
	// call would lower it again under nettune's feet.
	defer background(t, v, lab.InjectReassembly)()
	loss := func() float64 {
		c := counting(t, v.B, []string{"Ip.ReasmFails", "Ip.ReasmReqds"}, func() { time.Sleep(time.Second) })
		return ratio(c["Ip.ReasmFails"], c["Ip.ReasmReqds"])
	}
	before := loss()
	if before < 0.05 {
		t.Fatalf("only %.1f%% of fragments failed reassembly: the scenario proves nothing", 100*before)
	}

	d := l.advise(idle, ExitLoss)
	if top := d.Findings[0]; top.Stage != "ip-reassembly" || top.Class != "capacity" || !proposes(d, top.ID, "sysctl:net.ipv4.ipfrag_high_thresh") {
		t.Fatalf("top finding %s/%s (%s), plan %+v; want ip-reassembly/capacity with ipfrag_high_thresh", top.Stage, top.Class, top.ID, d.Plan)
	}

	// Refused fragments leave partial datagrams that pin their memory for ipfrag_time (30 s,
	// longer than this test): each step first fills the new room with them, so the loss falls
	// only once the free room exceeds the largest datagram (≈ 100 KB of truesize for 60 KiB).
	after, steps := before, 0
	for steps < 4 && fell(before, after) < 0.9 {
		s := changed(t, l.applyOnce(idle), "sysctl:net.ipv4.ipfrag_high_thresh")
		oneStep(t, s)
		steps++
		if got := sysctl(t, v.B, "net.ipv4.ipfrag_high_thresh"); s.Netns != v.B.Name || got != s.Got {
			t.Errorf("ipfrag_high_thresh in %s = %s, apply reported %s in netns %q", v.B.Name, got, s.Got, s.Netns)
		}
		after = loss()
		t.Logf("step %d: ipfrag_high_thresh %s → %s: ReasmFails per fragment %.2f → %.2f", steps, s.Current, s.Got, before, after)
	}
	if f := fell(before, after); f < 0.9 {
		t.Errorf("loss fell by %.0f%% after %d steps (%.2f → %.2f), want ≥ 90%%", 100*f, steps, before, after)
	}
	if got := sysctl(t, nil, "net.ipv4.ipfrag_high_thresh"); got != rootThresh {
		t.Errorf("ipfrag_high_thresh of the test's own namespace changed: %s → %s", rootThresh, got)
	}

	l.rollback()
	if got := sysctl(t, v.B, "net.ipv4.ipfrag_high_thresh"); got != strconv.Itoa(lab.LowFragHighThresh) {
		t.Errorf("ipfrag_high_thresh in %s after rollback = %s, want %d", v.B.Name, got, lab.LowFragHighThresh)
	}
}

// softnet sums softnet_stat columns over all CPUs: dropped, and received_rps per CPU.
func softnet(t *testing.T) (dropped uint64, rps map[int]uint64) {
	t.Helper()
	rows, err := kstat.ReadSoftnet("/proc")
	if err != nil {
		t.Fatal(err)
	}
	rps = map[int]uint64{}
	for _, r := range rows {
		dropped += uint64(r.Dropped)
		rps[r.CPU] = uint64(r.ReceivedRPS)
	}
	return dropped, rps
}

// cpus are the CPUs this process may run on.
func cpus(t *testing.T) []int {
	t.Helper()
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	var out []int
	for c := range len(set) * 64 {
		if set.IsSet(c) {
			out = append(out, c)
		}
	}
	if len(out) < 2 {
		t.Skipf("needs 2 CPUs, have %d", len(out))
	}
	return out
}

// hexMask is a one-CPU rps_cpus mask.
func hexMask(cpu int) string { return strconv.FormatUint(1<<cpu, 16) }

// The backlog scenario is lab.InjectBacklog's recipe (B's receive work steered by RPS to the
// last CPU, GSO bursts from A pinned to another, netdev_max_backlog at lab.LowMaxBacklog),
// with the load and the loss measured apart.
func TestClosedLoopBacklog(t *testing.T) {
	lab.RequireRoot(t)
	v := pair(t)
	l := newLoop(t, v.B)
	all := cpus(t)
	target, others := all[len(all)-1], all[:len(all)-1]
	for q := range v.Queues {
		lab.SetRPS(t, v.B, v.BName, q, hexMask(target))
	}
	lab.SetSysctl(t, nil, "net.core.netdev_max_backlog", strconv.Itoa(lab.LowMaxBacklog))
	lab.SetFeature(t, v.A, v.AName, "tx-udp-segmentation", false)
	sink := lab.UDPSink(t, v.B, v.BAddr+":0", lab.SinkOpts{RcvBuf: 16 << 20, Read: true})
	load := func(ctx context.Context) { gsoFlood(ctx, t, v, sink.Addr(), others[0], lab.BacklogGap, time.Minute) }
	loss := func() float64 {
		d0, _ := softnet(t)
		sent := gsoFlood(context.Background(), t, v, sink.Addr(), others[0], lab.BacklogGap, time.Second)
		d1, _ := softnet(t)
		return ratio(d1-d0, uint64(sent))
	}
	before := loss()
	if before < 0.05 {
		t.Fatalf("only %.1f%% of segments overflowed the backlog: the scenario proves nothing", 100*before)
	}

	d := l.advise(load, ExitLoss)
	if top := d.Findings[0]; top.Stage != "backlog" || top.Class != "capacity" || !proposes(d, top.ID, "sysctl:net.core.netdev_max_backlog") {
		t.Fatalf("top finding %s/%s (%s), plan %+v; want backlog/capacity with netdev_max_backlog", top.Stage, top.Class, top.ID, d.Plan)
	}

	after, steps := before, 0
	for steps < 5 && fell(before, after) < 0.9 {
		s := changed(t, l.applyOnce(load), "sysctl:net.core.netdev_max_backlog")
		oneStep(t, s)
		steps++
		after = loss()
		t.Logf("step %d: netdev_max_backlog %s → %s: backlog drops per datagram %.4f → %.4f", steps, s.Current, s.Got, before, after)
	}
	if f := fell(before, after); f < 0.9 {
		t.Errorf("loss fell by %.0f%% after %d steps (%.4f → %.4f), want ≥ 90%%", 100*f, steps, before, after)
	}

	l.rollback()
	if got := sysctl(t, nil, "net.core.netdev_max_backlog"); got != strconv.Itoa(lab.LowMaxBacklog) {
		t.Errorf("netdev_max_backlog after rollback = %s, want %d", got, lab.LowMaxBacklog)
	}
}

// The RPS scenario's netdev_max_backlog: above the backlog scenario's, still below a burst
// (lab.GSOSegments), so the busy CPU refuses part of each burst.
const gsoBacklog = 32

// gsoFlood is lab.GSOFlood from A that fails the test on a setup error.
func gsoFlood(ctx context.Context, t *testing.T, v *lab.Veth, dst string, cpu int, gap, d time.Duration) int {
	r, err := lab.GSOFlood(ctx, v.A, dst, cpu, gap, d)
	if err != nil {
		t.Error(err)
	}
	return r.Sent
}

// TestClosedLoopRPS: a one-queue veth whose receive work all lands on one CPU. The policy's
// distribution rule needs receive loss on the link (here backlog drops that also move B's
// rx_dropped) and NET_RX skew; apply then writes the RPS mask the plan proposes, and the
// other CPU starts taking packets by IPI (softnet received_rps) under the same load.
func TestClosedLoopRPS(t *testing.T) {
	lab.RequireRoot(t)
	v := lab.NewVeth(t, lab.NewNS(t, "scA"), lab.NewNS(t, "scB"), lab.VethOpts{Queues: 1})
	l := newLoop(t, v.B)
	all := cpus(t)
	busy := all[0]
	lab.SetFeature(t, v.A, v.AName, "tx-udp-segmentation", false)
	lab.SetSysctl(t, nil, "net.core.netdev_max_backlog", strconv.Itoa(gsoBacklog))
	sink := lab.UDPSink(t, v.B, v.BAddr+":0", lab.SinkOpts{RcvBuf: 4 << 20, Read: true})
	load := func(ctx context.Context) { gsoFlood(ctx, t, v, sink.Addr(), busy, 200*time.Microsecond, time.Minute) }
	// measure returns backlog drops per segment sent and IPIs taken per CPU.
	measure := func() (float64, map[int]uint64) {
		d0, r0 := softnet(t)
		sent := gsoFlood(context.Background(), t, v, sink.Addr(), busy, 200*time.Microsecond, time.Second)
		d1, r1 := softnet(t)
		rps := map[int]uint64{}
		for c := range r1 {
			rps[c] = r1[c] - r0[c]
		}
		return ratio(d1-d0, uint64(sent)), rps
	}
	before, rpsBefore := measure()
	if before < 0.05 {
		t.Fatalf("only %.1f%% of segments overflowed the backlog: the scenario proves nothing", 100*before)
	}

	d := l.advise(load, ExitLoss)
	knob := "rps:" + v.BName + ":rx-0"
	var plan []string
	for _, a := range d.Plan {
		plan = append(plan, a.Knob+"="+a.Proposed)
	}
	if top := d.Findings[0]; top.Stage != "backlog" || !proposes(d, top.ID, knob) {
		t.Fatalf("top finding %s/%s (%s), plan %v; want backlog with %s", top.Stage, top.Class, top.ID, plan, knob)
	}

	res := l.applyOnce(load)
	s := changed(t, res, knob)
	mask, err := lab.ReadSysfs(v.B, "class/net/"+v.BName+"/queues/rx-0/rps_cpus")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := strconv.ParseUint(s.Proposed, 16, 64)
	if got, _ := strconv.ParseUint(strings.ReplaceAll(mask, ",", ""), 16, 64); got != want || want == 0 || want&(1<<busy) != 0 {
		t.Errorf("rps_cpus = %s after apply, plan proposed %s (the busy CPU %d must be excluded)", mask, s.Proposed, busy)
	}
	after, rpsAfter := measure()
	var took uint64
	for c, n := range rpsAfter {
		if want&(1<<c) != 0 {
			took += n - min(n, rpsBefore[c])
		}
	}
	t.Logf("rps_cpus %s → %s: received_rps per CPU %v → %v; backlog drops per segment %.3f → %.3f", s.Current, mask, rpsBefore, rpsAfter, before, after)
	if took < 100 {
		t.Errorf("the CPUs of mask %s took %d IPIs more than before RPS (%v → %v), want ≥ 100", s.Proposed, took, rpsBefore, rpsAfter)
	}

	l.rollback()
	if mask, err := lab.ReadSysfs(v.B, "class/net/"+v.BName+"/queues/rx-0/rps_cpus"); err != nil || !zeroHex(mask) {
		t.Errorf("rps_cpus after rollback = %q (%v), want RPS off", mask, err)
	}
	if got := sysctl(t, nil, "net.core.netdev_max_backlog"); got != strconv.Itoa(gsoBacklog) {
		t.Errorf("netdev_max_backlog after rollback = %s, want %d", got, gsoBacklog)
	}
}

func zeroHex(s string) bool { return strings.Trim(s, "0,") == "" }

// attachXDPDrop loads a program that answers XDP_DROP to every frame and attaches it to
// link in ns in driver mode (veth has native XDP) — someone else's program, to nettune.
func attachXDPDrop(t *testing.T, ns *lab.NS, link string) {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "foreign_drop", Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()}}) // 1 = XDP_DROP
	if err != nil {
		t.Skipf("load xdp program: %v", err)
	}
	t.Cleanup(func() { prog.Close() })
	var l bpflink.Link
	err = netns.Do(ns.Name, func() error {
		ifi, err := net.InterfaceByName(link)
		if err != nil {
			return err
		}
		l, err = bpflink.AttachXDP(bpflink.XDPOptions{Program: prog, Interface: ifi.Index, Flags: bpflink.XDPDriverMode})
		return err
	})
	if err != nil {
		t.Skipf("attach native xdp to %s: %v", link, err)
	}
	t.Cleanup(func() { l.Close() })
}

// TestClosedLoopForeignXDP: loss that no knob can fix — a foreign program dropping on B's
// veth — is named as policy, never planned, and apply changes nothing.
func TestClosedLoopForeignXDP(t *testing.T) {
	lab.RequireRoot(t)
	v := pair(t)
	l := newLoop(t, v.B)
	atLeast(t, nil, "net.core.netdev_max_backlog", 1000)
	attachXDPDrop(t, v.B, v.BName)
	sink := lab.UDPSink(t, v.B, v.BAddr+":0", lab.SinkOpts{Read: true})
	load := func(ctx context.Context) {
		lab.UDPFlood(ctx, v.A, sink.Addr(), lab.FloodOpts{PPS: 5000, Size: 200, Flows: 4, Duration: time.Minute, Packets: math.MaxInt})
	}
	// What no apply may change: every global knob and B's per-netns ones.
	type key struct {
		ns  *lab.NS
		key string
	}
	knobs := map[key]string{}
	for _, k := range globalKnobs {
		knobs[key{nil, k}] = sysctl(t, nil, k)
	}
	for _, k := range []string{"net.core.somaxconn", "net.ipv4.ipfrag_high_thresh", "net.ipv4.tcp_rmem"} {
		knobs[key{v.B, k}] = sysctl(t, v.B, k)
	}

	d := l.advise(load, ExitOK) // policy loss is not capacity loss (docs/schema.md)
	top := d.Findings[0]
	if top.Stage != "xdp" || top.Class != "policy" || top.Interface != v.BName {
		t.Fatalf("top finding %s/%s on %q (%s), want xdp/policy on %s; all: %+v", top.Stage, top.Class, top.Interface, top.ID, v.BName, d.Findings)
	}
	for _, a := range d.Plan {
		if slices.Contains(a.Findings, top.ID) {
			t.Errorf("advise plans %s for the foreign program's drops", a.Knob)
		}
	}

	dry := l.applyOnce(load, "--dry-run")
	if !dry.DryRun {
		t.Error("apply --dry-run reports a real run")
	}
	for _, s := range dry.Steps {
		if slices.Contains(s.Findings, top.ID) {
			t.Errorf("apply --dry-run proposes %s for %s", s.Knob, top.ID)
		}
	}
	res := l.applyOnce(load)
	if n := res.Changed(); n != 0 || res.ID != "" {
		t.Errorf("apply changed %d knobs (journal id %q): %+v", n, res.ID, res.Steps)
	}
	if sink.Received() != 0 {
		t.Errorf("%d datagrams passed an XDP_DROP program", sink.Received())
	}
	for k, want := range knobs {
		if got := sysctl(t, k.ns, k.key); got != want {
			t.Errorf("%s (netns %q) changed: %s → %s", k.key, nsName(k.ns), want, got)
		}
	}
	if rb := l.rollback(); len(rb.Steps) != 0 {
		t.Errorf("rollback after an apply that changed nothing: %+v", rb.Steps)
	}
}

// TestClosedLoopAuto: `apply --auto` around a persistent accept-queue overflow, with
// hysteresis 1, no cooldown and a somaxconn cap of autoCap. The first run only saves a
// baseline; each later run judges the previous change (kept: the server listened again and
// the overflow fell) and raises somaxconn at most one step, until the cap stops it.
func TestClosedLoopAuto(t *testing.T) {
	const (
		storm   = 64 // connections per storm: overflows every backlog up to the cap
		autoCap = 48 // 16 → 32 → 48 (clamped), then at the cap
	)
	lab.RequireRoot(t)
	v := pair(t)
	l := newLoop(t, v.B)
	atLeast(t, nil, "net.core.netdev_max_backlog", 1000)
	l.config = writeConfig(t, fmt.Sprintf("apply:\n  hysteresis: 1\n  cooldown: 0s\n  revert_below: 0.1\npolicy:\n  caps:\n    somaxconn: %d\n", autoCap))
	lab.SetSysctl(t, v.B, "net.core.somaxconn", strconv.Itoa(acceptLow))

	var mu sync.Mutex
	app := startApp(t, v.B, v.BAddr, true)
	addr := func() string {
		mu.Lock()
		defer mu.Unlock()
		return app.addr
	}
	restart := func() {
		mu.Lock()
		defer mu.Unlock()
		app.close()
		app = startApp(t, v.B, v.BAddr, true)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { storms(ctx, v, addr, storm, time.Minute) })
	defer wg.Wait()
	defer cancel()

	auto := func() *apply.AutoResult {
		t.Helper()
		var r apply.AutoResult
		code, out, stderr := run(t, l.args("apply", "--auto", "--netns", v.B.Name, "-o", "json")...)
		if code != ExitOK {
			t.Fatalf("apply --auto: exit %d: %s%s", code, out, stderr)
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("apply --auto output is not JSON: %v\n%s", err, out)
		}
		return &r
	}
	knob := "sysctl:net.core.somaxconn"
	if r := auto(); r.Baseline == "" || len(r.Actions) != 0 {
		t.Fatalf("first auto run acted: %+v", r)
	}
	want := []string{"32", "48", ""} // what each later run raises somaxconn to ("" = nothing)
	for i, to := range want {
		time.Sleep(2 * time.Second) // the interval auto mode measures: since the previous run
		r := auto()
		var changes []apply.AutoAction
		for _, a := range r.Actions {
			switch {
			case a.Kind == "revert":
				t.Errorf("run %d reverted %s %s → %s: %s", i+2, a.Knob, a.From, a.To, a.Why)
			case a.Kind == "change" && a.Knob == knob:
				changes = append(changes, a)
			case a.Kind == "change":
				t.Errorf("run %d changed %s too: %+v", i+2, a.Knob, a)
			}
		}
		var log strings.Builder
		_ = render.Auto(&log, render.FormatTable, r)
		t.Logf("run %d:\n%s", i+2, log.String())
		switch {
		case to == "" && len(changes) != 0:
			t.Errorf("run %d raised somaxconn past the cap %d: %+v", i+2, autoCap, changes)
		case to != "" && (len(changes) != 1 || changes[0].To != to):
			t.Fatalf("run %d: somaxconn changes %+v, want one change to %s", i+2, changes, to)
		}
		if got := sysctl(t, v.B, "net.core.somaxconn"); to != "" && got != to {
			t.Errorf("somaxconn in %s = %s after run %d, want %s", v.B.Name, got, i+2, to)
		}
		if to != "" {
			restart() // the effective backlog is fixed at listen()
		}
	}
	if got := sysctl(t, v.B, "net.core.somaxconn"); got != strconv.Itoa(autoCap) {
		t.Errorf("somaxconn ends at %s, want the cap %d", got, autoCap)
	}
	cancel()
	l.rollback()
	if got := sysctl(t, v.B, "net.core.somaxconn"); got != strconv.Itoa(acceptLow) {
		t.Errorf("somaxconn in %s after rollback = %s, want %d", v.B.Name, got, acceptLow)
	}
}
