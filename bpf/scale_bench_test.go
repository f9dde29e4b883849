package bpf

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/internal/netns"
)

// BenchmarkAttach1000 attaches the in-path probes (default options: XDP auto, the tc points
// at the two tracepoints, the xmit tracepoint; with and without the drop tracer; and with
// tc programs on each link, tcx) to 1 000 veth links of one namespace and detaches them.
// Budget: attach + detach under 300 ms of CPU (cpu-ns/op: getrusage of the process, kernel
// time included). Wall time is reported apart: every tcx attachment and detachment waits
// for an RCU grace period, which costs time but little CPU.
//
// tcx-floor is the part no design with one bpf_link per hook and link can avoid: an empty
// program attached to tcx ingress and egress of the same links and detached, nothing else,
// from one thread and from eight.
func BenchmarkAttach1000(b *testing.B) {
	ns := lab.NewNS(b, "bpfS")
	links := lab.ManyVeths(b, ns, 500, true)
	for _, c := range []struct {
		name  string
		drops bool
		tc    string
	}{{"in-path", false, TCAuto}, {"in-path+drops", true, TCAuto}, {"in-path-tcx", false, TCX}} {
		b.Run(c.name, func(b *testing.B) {
			o := Options{Targets: []Target{{Netns: ns.Name, Links: links}}, InPath: true, Drops: c.drops, TCMode: c.tc}
			benchAttach(b, func() (io.Closer, error) { return Attach(o) })
		})
	}
	// tcx-floor is one thread attaching and closing; tcx-floor-8-threads splits the same work
	// over eight threads (each inside the namespace), to show whether the kernel's waits
	// overlap: they do not, tcx holds the RTNL lock across its RCU grace period.
	for _, workers := range []int{1, 8} {
		name := "tcx-floor"
		if workers > 1 {
			name = fmt.Sprintf("tcx-floor-%d-threads", workers)
		}
		b.Run(name, func(b *testing.B) {
			prog, err := emptyProg("nettune_floor", ebpf.SchedCLS, ebpf.AttachNone, "", -1)
			if err != nil {
				b.Skipf("load an empty tc program: %v", err)
			}
			defer prog.Close()
			h := ns.Handle(b)
			var ifindexes []int
			for _, name := range links {
				l, err := h.LinkByName(name)
				if err != nil {
					b.Fatal(err)
				}
				ifindexes = append(ifindexes, l.Attrs().Index)
			}
			benchAttach(b, func() (io.Closer, error) { return attachFloor(ns.Name, prog, ifindexes, workers) })
		})
	}
}

// attachFloor attaches prog to tcx ingress and egress of every link, the links split over
// workers threads inside the namespace; closing closes them over as many goroutines.
func attachFloor(ns string, prog *ebpf.Program, ifindexes []int, workers int) (io.Closer, error) {
	ls := make(closeAll, 2*len(ifindexes))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = netns.Do(ns, func() error {
				for i := w; i < len(ifindexes); i += workers {
					for j, at := range []ebpf.AttachType{ebpf.AttachTCXIngress, ebpf.AttachTCXEgress} {
						l, err := link.AttachTCX(link.TCXOptions{Interface: ifindexes[i], Program: prog, Attach: at, Anchor: link.Head()})
						if err != nil {
							return err
						}
						ls[2*i+j] = l
					}
				}
				return nil
			})
		}()
	}
	wg.Wait()
	c := &floorLinks{ls: slices.DeleteFunc(ls, func(c io.Closer) bool { return c == nil }), workers: workers}
	if err := errors.Join(errs...); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// floorLinks closes the tcx-floor links over workers goroutines.
type floorLinks struct {
	ls      closeAll
	workers int
}

func (f *floorLinks) Close() error {
	errs := make([]error, f.workers)
	var wg sync.WaitGroup
	for w := range f.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var part closeAll
			for i := w; i < len(f.ls); i += f.workers {
				part = append(part, f.ls[i])
			}
			errs[w] = part.Close()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// closeAll closes the tcx-floor links in reverse order, as Probes.Close does.
type closeAll []io.Closer

func (c closeAll) Close() error {
	var errs []error
	for i := len(c) - 1; i >= 0; i-- {
		errs = append(errs, c[i].Close())
	}
	return errors.Join(errs...)
}

// benchAttach reports the CPU (getrusage of the process) and wall time of attach and of
// detach (Close).
func benchAttach(b *testing.B, attach func() (io.Closer, error)) {
	var cpuAttach, cpuDetach int64
	var wallAttach, wallDetach time.Duration
	for b.Loop() {
		c0, t0 := cpuNanos(), time.Now()
		p, err := attach()
		if err != nil {
			b.Fatal(err)
		}
		c1, t1 := cpuNanos(), time.Now()
		if err := p.Close(); err != nil {
			b.Fatal(err)
		}
		cpuAttach += c1 - c0
		cpuDetach += cpuNanos() - c1
		wallAttach += t1.Sub(t0)
		wallDetach += time.Since(t1)
	}
	n := float64(b.N)
	b.ReportMetric(float64(cpuAttach+cpuDetach)/n, "cpu-ns/op")
	b.ReportMetric(float64(cpuAttach)/n, "attach-cpu-ns/op")
	b.ReportMetric(float64(cpuDetach)/n, "detach-cpu-ns/op")
	b.ReportMetric(wallAttach.Seconds()/n, "attach-s/op")
	b.ReportMetric(wallDetach.Seconds()/n, "detach-s/op")
}

func cpuNanos() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
