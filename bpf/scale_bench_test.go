package bpf

import (
	"syscall"
	"testing"
	"time"

	"github.com/nettune/nettune/internal/lab"
)

// BenchmarkAttach1000 attaches the in-path probes (default options: XDP auto, tcx, the xmit
// tracepoint; with and without the drop tracer) to 1 000 veth links of one namespace and
// detaches them. Budget: attach + detach under 300 ms of CPU (cpu-ns/op: getrusage of the
// process, kernel time included). Wall time is reported apart: every tcx attachment and
// detachment waits for an RCU grace period, which costs time but no CPU.
func BenchmarkAttach1000(b *testing.B) {
	ns := lab.NewNS(b, "bpfS")
	links := lab.ManyVeths(b, ns, 500, true)
	for _, c := range []struct {
		name  string
		drops bool
	}{{"in-path", false}, {"in-path+drops", true}} {
		b.Run(c.name, func(b *testing.B) {
			o := Options{Targets: []Target{{Netns: ns.Name, Links: links}}, InPath: true, Drops: c.drops}
			var attach, detach int64
			var attachWall, detachWall time.Duration
			for b.Loop() {
				c0, t0 := cpuNanos(), time.Now()
				p, err := Attach(o)
				if err != nil {
					b.Fatal(err)
				}
				c1, t1 := cpuNanos(), time.Now()
				if err := p.Close(); err != nil {
					b.Fatal(err)
				}
				attach += c1 - c0
				detach += cpuNanos() - c1
				attachWall += t1.Sub(t0)
				detachWall += time.Since(t1)
			}
			n := float64(b.N)
			b.ReportMetric(float64(attach+detach)/n, "cpu-ns/op")
			b.ReportMetric(float64(attach)/n, "attach-cpu-ns/op")
			b.ReportMetric(float64(detach)/n, "detach-cpu-ns/op")
			b.ReportMetric(attachWall.Seconds()/n, "attach-s/op")
			b.ReportMetric(detachWall.Seconds()/n, "detach-s/op")
		})
	}
}

func cpuNanos() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
