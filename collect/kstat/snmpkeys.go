package kstat

import (
	"sync"
	"sync/atomic"
)

// snmpKeys holds one string for each "Proto.Field" key the SNMP parsers met: every
// namespace prints the same few hundred names, and a map per namespace and sample would
// otherwise hold its own copy of each. Readers take the table with one atomic load (the
// parsers run on several threads at once); a parse that met new names adds them in one
// copy of the table when it ends. The table stops growing at maxSNMPKeys (a kernel prints
// about 450): keys beyond are allocated each time, as before.
var snmpKeys struct {
	table atomic.Pointer[map[string]string]
	mu    sync.Mutex // serialises the copies
}

const maxSNMPKeys = 4096

// snmpKeyBuf builds a parse's keys and collects the names new to snmpKeys.
type snmpKeyBuf struct {
	scratch [64]byte
	fresh   []string
}

// key returns proto+sep+name, from snmpKeys when the table has it.
func (k *snmpKeyBuf) key(proto []byte, sep byte, name []byte) string {
	b := append(append(append(k.scratch[:0], proto...), sep), name...)
	if t := snmpKeys.table.Load(); t != nil {
		if s, ok := (*t)[string(b)]; ok {
			return s
		}
	}
	s := string(b)
	k.fresh = append(k.fresh, s)
	return s
}

// publish adds the names this parse met first to snmpKeys.
func (k *snmpKeyBuf) publish() {
	if len(k.fresh) == 0 {
		return
	}
	snmpKeys.mu.Lock()
	defer snmpKeys.mu.Unlock()
	old := snmpKeys.table.Load()
	n := 0
	if old != nil {
		n = len(*old)
	}
	if n >= maxSNMPKeys {
		return
	}
	t := make(map[string]string, n+len(k.fresh))
	if old != nil {
		for s := range *old {
			t[s] = s
		}
	}
	for _, s := range k.fresh {
		if len(t) < maxSNMPKeys {
			t[s] = s
		}
	}
	snmpKeys.table.Store(&t)
}
