package bpf

import (
	"testing"

	"github.com/cilium/ebpf"

	"github.com/nettune/nettune/internal/lab"
)

// The batch read and the per-slot iteration sum the same per-CPU values.
func TestReadCounters(t *testing.T) {
	lab.RequireRoot(t)
	objs, err := testCounters(t, countersLinkInfo{RxQueues: 3}, 6, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	m := objs.XdpCounts // 2 links × 3 queues
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	for k := range uint32(6) {
		vals := make([]countersCounter, cpus)
		for c := range vals {
			vals[c] = countersCounter{Packets: uint64(k+1) * 10, Bytes: uint64(c + 1)}
		}
		if err := m.Put(k, vals); err != nil {
			t.Fatal(err)
		}
	}
	batch, err := readCounters(m)
	if err != nil {
		t.Fatal(err)
	}
	iter, err := iterateCounters(m, make([]countersCounter, 6))
	if err != nil {
		t.Fatal(err)
	}
	for k := range 6 {
		want := countersCounter{Packets: uint64(k+1) * 10 * uint64(cpus), Bytes: uint64(cpus * (cpus + 1) / 2)}
		if batch[k] != want || iter[k] != want {
			t.Errorf("slot %d: batch %+v, iterate %+v, want %+v", k, batch[k], iter[k], want)
		}
	}
}

// Batched drop reads cross batch boundaries and sum like the per-key iteration.
func TestReadDrops(t *testing.T) {
	lab.RequireRoot(t)
	spec, err := loadDrops()
	if err != nil {
		t.Fatal(err)
	}
	var maps dropsMaps
	if err := spec.LoadAndAssign(&maps, nil); err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	const keys = dropsBatch + 44
	for i := range uint32(keys) {
		vals := make([]uint64, cpus)
		for c := range vals {
			vals[c] = uint64(i) + 1
		}
		if err := maps.Drops.Put(dropsDropKey{Reason: i, Location: 0xffff0000 + uint64(i)}, vals); err != nil {
			t.Fatal(err)
		}
	}
	collect := func(read func(*ebpf.Map, func(dropsDropKey, uint64)) error) map[uint32]uint64 {
		got := map[uint32]uint64{}
		if err := read(maps.Drops, func(k dropsDropKey, n uint64) { got[k.Reason] += n }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	batch, iter := collect(readDrops), collect(iterateDrops)
	if len(batch) != keys || len(iter) != keys {
		t.Fatalf("%d keys batched, %d iterated, want %d", len(batch), len(iter), keys)
	}
	for r, n := range batch {
		if want := (uint64(r) + 1) * uint64(cpus); n != want || iter[r] != want {
			t.Errorf("reason %d: batch %d, iterate %d, want %d", r, n, iter[r], want)
		}
	}
}
