package netdev

import (
	"fmt"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/lab"
)

// cpuTime returns the user + system CPU time of the process (unix.RUSAGE_SELF) or of its
// waited-for children (unix.RUSAGE_CHILDREN).
func cpuTime(who int) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const benchPairs = 500 // 1 000 veth interfaces

// BenchmarkLinks reads 1 000 veth interfaces (plus lo) with one Reader.Links call per op
// ("reader"), the same with a Reader opened and closed per op, as one `nettune apply
// --auto` run does ("reader-cold": nothing kept from an earlier call), and with the
// pipeline a shell tool would run for the same data: `ip -s link`, `ethtool -S <if>` for
// each interface and `tc -s qdisc`, exec'd inside the namespace ("exec"; skipped when a tool
// is missing). cpu-ns/op is the CPU time of the reader's process, or of the exec'd tools.
// Run with -benchtime=5x: one exec op takes seconds.
func BenchmarkLinks(b *testing.B) {
	lab.RequireRoot(b)
	ns := lab.NewNS(b, "ndBench")
	names := lab.ManyVeths(b, ns, benchPairs, true)

	open := func(b *testing.B) *Reader {
		var r *Reader
		ns.Do(b, func() error {
			var err error
			r, err = Open()
			return err
		})
		return r
	}
	read := func(b *testing.B, r *Reader) {
		ls, err := r.Links(nil)
		if err != nil {
			b.Fatal(err)
		}
		if len(ls) != len(names)+1 {
			b.Fatalf("%d links, want %d", len(ls), len(names)+1)
		}
	}
	b.Run("reader", func(b *testing.B) {
		r := open(b)
		defer r.Close()
		b.ReportAllocs()
		cpu := cpuTime(unix.RUSAGE_SELF)
		for b.Loop() {
			read(b, r)
		}
		// CPU time (user + system, all threads) is steadier than wall time on a shared VM.
		b.ReportMetric(float64(cpuTime(unix.RUSAGE_SELF)-cpu)/float64(b.N), "cpu-ns/op")
	})
	b.Run("reader-cold", func(b *testing.B) {
		b.ReportAllocs()
		cpu := cpuTime(unix.RUSAGE_SELF)
		for b.Loop() {
			r := open(b)
			read(b, r)
			r.Close()
		}
		b.ReportMetric(float64(cpuTime(unix.RUSAGE_SELF)-cpu)/float64(b.N), "cpu-ns/op")
	})

	b.Run("exec", func(b *testing.B) {
		for _, tool := range []string{"ip", "ethtool", "tc"} {
			if _, err := exec.LookPath(tool); err != nil {
				b.Skipf("%s not installed", tool)
			}
		}
		cpu := cpuTime(unix.RUSAGE_CHILDREN)
		for b.Loop() {
			// A child forked from a thread inside the namespace starts in it.
			ns.Do(b, func() error {
				if err := exec.Command("ip", "-s", "link").Run(); err != nil {
					return fmt.Errorf("ip -s link: %w", err)
				}
				for _, n := range names {
					if err := exec.Command("ethtool", "-S", n).Run(); err != nil {
						return fmt.Errorf("ethtool -S %s: %w", n, err)
					}
				}
				if err := exec.Command("tc", "-s", "qdisc").Run(); err != nil {
					return fmt.Errorf("tc -s qdisc: %w", err)
				}
				return nil
			})
		}
		b.ReportMetric(float64(cpuTime(unix.RUSAGE_CHILDREN)-cpu)/float64(b.N), "cpu-ns/op")
	})
}

// BenchmarkStatsOrDump reads the counters of 1 000 veth interfaces (plus lo) with one stats
// dump (Reader.Stats) and with one link dump (Reader.Dump): what a namespace in which
// nothing moved costs serve each interval either way.
func BenchmarkStatsOrDump(b *testing.B) {
	lab.RequireRoot(b)
	ns := lab.NewNS(b, "ndBench")
	names := lab.ManyVeths(b, ns, benchPairs, true)
	var r *Reader
	ns.Do(b, func() error {
		var err error
		r, err = Open()
		return err
	})
	defer r.Close()
	for _, c := range []struct {
		name string
		read func() (int, error)
	}{
		{"stats", func() (int, error) { s, err := r.Stats(); return len(s), err }},
		{"dump", func() (int, error) { l, err := r.Dump(nil); return len(l), err }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := cpuTime(unix.RUSAGE_SELF)
			for b.Loop() {
				n, err := c.read()
				if err != nil || n != len(names)+1 {
					b.Fatalf("%d links, %v", n, err)
				}
			}
			b.ReportMetric(float64(cpuTime(unix.RUSAGE_SELF)-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
