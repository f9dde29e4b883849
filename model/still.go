package model

import (
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"weak"
)

// A namespace in which nothing moved hands the same SNMP map to two samples in a row (the
// collector returns its last map when the files printed the same text). Its delta is a zero
// for every counter, and on one kernel every namespace has the same counters: one read-only
// map of zeros serves all of them, instead of a fresh map of some 400 keys for each
// namespace at every interval. Checking that a map has the zeros' keys costs about what
// making the map did, so the check is made once while the map stands still: each sample
// whose delta got the zeros remembers them (by its map) for the next Diff from it.
type stillSNMP struct {
	keys  map[string]uint64 // a sample's map that the zeros were made from
	zeros map[string]uint64
}

var lastStill atomic.Pointer[stillSNMP]

// stillNext are the zeros of the samples that were the Cur of a still delta, by sample and
// the address of its map; an entry goes with its sample.
var (
	stillMu   sync.Mutex
	stillNext = map[weak.Pointer[Sample]]stillAt{}
)

type stillAt struct {
	snmp  uintptr
	zeros map[string]uint64
}

// mapAddr is the identity of a map: two samples holding one map share it.
func mapAddr(m map[string]uint64) uintptr { return uintptr(reflect.ValueOf(m).UnsafePointer()) }

// sameMap: a and b are one map (not merely equal ones).
func sameMap(a, b map[string]uint64) bool { return a != nil && mapAddr(a) == mapAddr(b) }

// stillSNMPDelta is the SNMP delta from prev to cur, which hold one map: the map's counters,
// each zero. The map of zeros may be shared with other Deltas.
func stillSNMPDelta(prev, cur *Sample) map[string]uint64 {
	addr := mapAddr(cur.SNMP)
	stillMu.Lock()
	at, ok := stillNext[weak.Make(prev)]
	stillMu.Unlock()
	zeros := at.zeros
	if !ok || at.snmp != addr {
		zeros = zerosOf(cur.SNMP)
	}
	key := weak.Make(cur)
	stillMu.Lock()
	if _, ok := stillNext[key]; !ok {
		runtime.AddCleanup(cur, forgetStill, key)
	}
	stillNext[key] = stillAt{snmp: addr, zeros: zeros}
	stillMu.Unlock()
	return zeros
}

func forgetStill(key weak.Pointer[Sample]) {
	stillMu.Lock()
	delete(stillNext, key)
	stillMu.Unlock()
}

// zerosOf is a map of zeros for the counters of m: the last one made when it has m's keys.
func zerosOf(m map[string]uint64) map[string]uint64 {
	if st := lastStill.Load(); st != nil && sameKeys(st.keys, m) {
		return st.zeros
	}
	zeros := make(map[string]uint64, len(m))
	for k := range m {
		if !SNMPNotCounter(k) {
			zeros[k] = 0
		}
	}
	lastStill.Store(&stillSNMP{keys: m, zeros: zeros})
	return zeros
}

// sameKeys: a and b have the same keys.
func sameKeys(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	if sameMap(a, b) {
		return true
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			return false
		}
	}
	return true
}
