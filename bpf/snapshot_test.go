package bpf

import (
	"testing"

	"github.com/cilium/ebpf"

	"github.com/nettune/nettune/tuner/lab"
)

// The batch read and the per-slot iteration sum the same per-CPU values.
func TestReadCounters(t *testing.T) {
	lab.RequireRoot(t)
	objs, err := testCounters(t, 0, 3, 0, 2)
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
