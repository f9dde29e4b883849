// Package kstat reads the kernel's network counters and settings from /proc and /sys:
// softnet_stat, snmp/netstat/snmp6, softirqs, interrupts, sysctls, RPS masks, whether
// irqbalance runs, sockstat and the neighbour tables; and, over netlink, UDP and TCP sockets
// (sock_diag) and neighbour entries. Every reader takes the proc or sys root as an argument so
// that tests can point it at a fixture tree under testdata/.
//
// Per-netns files are read through <proc>/thread-self/net, because after setns() a Go
// program's /proc/self/net can still show the namespace the process started in. Call the
// readers on a locked OS thread inside the target namespace (internal/netns.Do).
package kstat

import (
	"os"
	"path/filepath"
)

// netRoot returns the directory whose net/ subdirectory belongs to the calling thread's
// network namespace: <proc>/thread-self, or <proc> itself in fixture trees without it.
func netRoot(procRoot string) string {
	ts := filepath.Join(procRoot, "thread-self")
	if _, err := os.Stat(ts); err == nil {
		return ts
	}
	return procRoot
}
