package bpf

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/nettune/nettune/internal/lab"
)

const (
	xdpPass = 2
	tcNext  = 0xffffffff // TCX_NEXT = TC_ACT_UNSPEC = -1
)

// loIfindex is the loopback device BPF_PROG_TEST_RUN runs XDP and tc programs on, in the
// test's own namespace.
const loIfindex = 1

// testCounters loads the counter programs (fixed_netns = fixed) with counter arrays of slots
// entries and registers the test namespace's loopback with info, also by ifindex alone when
// unique (no other watched link has its ifindex): what Attach does, minus attaching.
func testCounters(t testing.TB, info countersLinkInfo, slots int, fixed uint32, unique bool) (*countersObjects, error) {
	t.Helper()
	lab.RequireRoot(t)
	spec, err := loadCounters()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{countersMapXdpCounts, countersMapTcInCounts, countersMapXmitCounts, countersMapTcEgCounts} {
		spec.Maps[m].MaxEntries = uint32(slots)
	}
	spec.Maps[countersMapLinks].MaxEntries = 1
	spec.Maps[countersMapInfos].MaxEntries = info.Slot + 1
	spec.Maps[countersMapByIfindex].MaxEntries = loIfindex + 1
	if err := spec.Variables[countersVarFixedNetns].Set(fixed); err != nil {
		t.Fatal(err)
	}
	var objs countersObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return nil, err
	}
	t.Cleanup(func() { objs.Close() })
	ino := selfNetns(t)
	slot := info.Slot
	if err := objs.Infos.Put(slot, info); err != nil {
		t.Fatal(err)
	}
	if err := objs.Links.Put(countersLinkKey{Netns: uint32(ino), Ifindex: loIfindex}, slot); err != nil {
		t.Fatal(err)
	}
	if unique {
		if err := objs.ByIfindex.Put(uint32(loIfindex), slot+1); err != nil {
			t.Fatal(err)
		}
	}
	return &objs, nil
}

func selfNetns(t testing.TB) uint64 {
	t.Helper()
	ino, err := netnsInode("")
	if err != nil {
		t.Fatal(err)
	}
	return ino
}

func mustCounters(t testing.TB, info countersLinkInfo, slots int, unique bool) *countersObjects {
	t.Helper()
	objs, err := testCounters(t, info, slots, 0, unique)
	if errors.Is(err, ebpf.ErrNotSupported) {
		t.Skipf("load counter programs: %v", err)
	}
	if err != nil {
		t.Fatalf("load counter programs: %+v", err)
	}
	return objs
}

func counterAt(t testing.TB, m *ebpf.Map, key uint32) countersCounter {
	t.Helper()
	var vals []countersCounter
	if err := m.Lookup(key, &vals); err != nil {
		t.Fatal(err)
	}
	var c countersCounter
	for _, v := range vals {
		c.Packets += v.Packets
		c.Bytes += v.Bytes
	}
	return c
}

// skbCtx is struct __sk_buff as BPF_PROG_TEST_RUN takes it (192 bytes, 32-bit words).
type skbCtx [48]uint32

const (
	skbGSOSegs = 41 // offsetof(gso_segs) / 4
)

func frame(n int) []byte {
	b := make([]byte, n)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	return b
}

func TestXDPProgram(t *testing.T) {
	objs := mustCounters(t, countersLinkInfo{RxBase: 4, RxQueues: 2, Slot: 2}, 6, true)
	for range 3 {
		ret, err := objs.NettuneXdp.Run(&ebpf.RunOptions{Data: frame(64)})
		skipUnsupported(t, err)
		if ret != xdpPass {
			t.Fatalf("xdp returned %d, want XDP_PASS", ret)
		}
	}
	// rx_queue_index is 0 under test-run: slot base + queue 0.
	if c := counterAt(t, objs.XdpCounts, 4); c.Packets != 3 || c.Bytes != 3*64 {
		t.Errorf("xdp counter = %+v, want 3 packets, 192 bytes", c)
	}
	if c := counterAt(t, objs.XdpCounts, 5); c.Packets != 0 {
		t.Errorf("neighbour queue counted: %+v", c)
	}
}

// TestTCIngressProgram: test-run refuses a queue_mapping in the context (only mark,
// priority, ifindex, cb, tstamp, wire_len, gso_segs/size and hwtstamp are accepted), so the
// queue is always 0 here; per-queue keys are checked on a real veth in TestQueuesVeth.
func TestTCIngressProgram(t *testing.T) {
	objs := mustCounters(t, countersLinkInfo{RxBase: 4, RxQueues: 4, Slot: 1}, 8, true)
	for _, tc := range []struct {
		segs        uint32
		wantPackets uint64
		desc        string
	}{
		{segs: 0, wantPackets: 1, desc: "plain packet counts 1"},
		{segs: 3, wantPackets: 4, desc: "GRO packet counts gso_segs"},
	} {
		var ctx skbCtx
		ctx[skbGSOSegs] = tc.segs
		ret, err := objs.NettuneTcIn.Run(&ebpf.RunOptions{Data: frame(100), Context: ctx})
		skipUnsupported(t, err)
		if ret != tcNext {
			t.Fatalf("%s: tc ingress returned %d, want TCX_NEXT (-1)", tc.desc, int32(ret))
		}
		if c := counterAt(t, objs.TcInCounts, 4); c.Packets != tc.wantPackets {
			t.Errorf("%s: counter[4] = %+v, want %d packets in total", tc.desc, c, tc.wantPackets)
		}
	}
	if c := counterAt(t, objs.TcInCounts, 4); c.Bytes != 200 {
		t.Errorf("bytes = %d, want 200", c.Bytes)
	}
}

// skipUnsupported skips when the kernel lacks BPF_PROG_TEST_RUN for the program type and
// fails on any other error.
func skipUnsupported(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ebpf.ErrNotSupported) {
		t.Skipf("BPF_PROG_TEST_RUN: %v", err)
	}
	if err != nil {
		t.Fatalf("BPF_PROG_TEST_RUN: %v", err)
	}
}

func TestTCEgressProgram(t *testing.T) {
	objs := mustCounters(t, countersLinkInfo{RxBase: 0, RxQueues: 1, Slot: 1}, 2, true)
	ret, err := objs.NettuneTcEg.Run(&ebpf.RunOptions{Data: frame(80)})
	skipUnsupported(t, err)
	if ret != tcNext {
		t.Fatalf("tc egress returned %d, want TCX_NEXT (-1)", int32(ret))
	}
	if c := counterAt(t, objs.TcEgCounts, 1); c.Packets != 1 || c.Bytes != 80 {
		t.Errorf("egress counter = %+v, want 1 packet, 80 bytes", c)
	}
	if c := counterAt(t, objs.TcEgCounts, 0); c.Packets != 0 {
		t.Errorf("other slot counted: %+v", c)
	}
}

// TestDropProgram runs the raw_tracepoint variant (tp_btf cannot be test-run) with
// arguments (skb = NULL, location, reason): consume-path reasons are ignored, others
// counted under their location.
func TestDropProgram(t *testing.T) {
	lab.RequireRoot(t)
	spec, err := loadDrops()
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]uint32{dropsVarReasonNotDroppedYet: 0, dropsVarReasonConsumed: 1} {
		if err := spec.Variables[name].Set(v); err != nil {
			t.Fatal(err)
		}
	}
	var objs dropsObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		t.Skipf("load drop programs: %+v", err)
	}
	defer objs.Close()
	const loc = 0xffffffff81e94f20
	for _, reason := range []uint64{0, 1, 3, 3, 2} {
		ret, err := objs.NettuneDropRt.Run(&ebpf.RunOptions{Context: [3]uint64{0, loc, reason}})
		skipUnsupported(t, err)
		if ret != 0 {
			t.Fatalf("returned %d", ret)
		}
	}
	got := map[uint32]uint64{}
	var (
		k    dropsDropKey
		vals []uint64
	)
	it := objs.Drops.Iterate()
	for it.Next(&k, &vals) {
		if k.Location != loc || k.Netns != 0 || k.Ifindex != 0 {
			t.Errorf("unexpected key %+v", k)
		}
		got[k.Reason] += sum(vals)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[3] != 2 || got[2] != 1 {
		t.Errorf("drops by reason = %v, want {2:1 3:2} (0 and 1 are consume paths)", got)
	}
}

// TestDropProgramLocationOnly runs the raw_tracepoint variant for kernels without drop
// reasons with their two arguments (skb = NULL, location): every event counts under noReason.
// Only this program is loaded, so the test also runs where the reason programs cannot load.
func TestDropProgramLocationOnly(t *testing.T) {
	lab.RequireRoot(t)
	spec, err := loadDrops()
	if err != nil {
		t.Fatal(err)
	}
	var objs struct {
		Prog  *ebpf.Program `ebpf:"nettune_loc_rt"`
		Drops *ebpf.Map     `ebpf:"drops"`
	}
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		t.Fatalf("load %s: %+v", dropsProgNettuneLocRt, err)
	}
	defer objs.Prog.Close()
	defer objs.Drops.Close()
	const loc = 0xffffffff81e94f20
	for range 2 {
		ret, err := objs.Prog.Run(&ebpf.RunOptions{Context: [2]uint64{0, loc}})
		skipUnsupported(t, err)
		if ret != 0 {
			t.Fatalf("returned %d", ret)
		}
	}
	var (
		k    dropsDropKey
		vals []uint64
		keys int
	)
	it := objs.Drops.Iterate()
	for it.Next(&k, &vals) {
		keys++
		if k != (dropsDropKey{Reason: noReason, Location: loc}) || sum(vals) != 2 {
			t.Errorf("key %+v count %d, want reason %#x at %#x counted twice", k, sum(vals), uint32(noReason), uint64(loc))
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if keys != 1 {
		t.Errorf("%d keys, want 1", keys)
	}
}
