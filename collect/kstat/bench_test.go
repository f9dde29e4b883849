package kstat

import (
	"testing"

	"github.com/nettune/nettune/internal/nldump"
)

// BenchmarkReadAll reads everything a sample takes from /proc and /sys (and sock_diag) of
// this machine.
func BenchmarkReadAll(b *testing.B) {
	links := hostLinks(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadSoftnet("/proc"); err != nil {
			b.Fatal(err)
		}
		if _, err := ReadSNMP("/proc"); err != nil {
			b.Fatal(err)
		}
		if _, err := ReadUDPSockets("/proc", nldump.OpenDumper); err != nil {
			b.Fatal(err)
		}
		if _, err := ReadSoftirqs("/proc"); err != nil {
			b.Fatal(err)
		}
		if _, err := ReadInterrupts("/proc", "/sys", links); err != nil {
			b.Fatal(err)
		}
		if _, err := ReadSysctls("/proc", DefaultSysctls); err != nil {
			b.Fatal(err)
		}
		nd, err := OpenNetDir("/sys")
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range links {
			if _, err := nd.RPS(l, 0, true); err != nil {
				b.Fatal(err)
			}
		}
		nd.Close()
		if _, err := IRQBalanceRunning("/proc"); err != nil {
			b.Fatal(err)
		}
	}
}
