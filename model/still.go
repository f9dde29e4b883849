package model

import (
	"reflect"
	"sync/atomic"
)

// A namespace in which nothing moved hands the same SNMP map to two samples in a row (the
// collector returns its last map when the files printed the same text). Its delta is a zero
// for every counter, and on one kernel every namespace has the same counters: one read-only
// map of zeros serves all of them, instead of a fresh map of some 400 keys for each
// namespace at every interval.
type stillSNMP struct {
	keys  map[string]uint64 // a sample's map that the zeros were made from
	zeros map[string]uint64
}

var lastStill atomic.Pointer[stillSNMP]

// sameMap: a and b are one map (not merely equal ones).
func sameMap(a, b map[string]uint64) bool {
	return a != nil && reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// stillSNMPDelta is the SNMP delta between a sample's map m and itself: the counters of m,
// each zero. The map may be shared with other Deltas.
func stillSNMPDelta(m map[string]uint64) map[string]uint64 {
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
