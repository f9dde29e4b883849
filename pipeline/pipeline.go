// Package pipeline is nettune's one path from the kernel to a report. A Run owns the
// collector and the in-path probes of one command, takes samples, and turns the interval
// between two samples into a Delta, the policy's Report and the metadata that says how they
// were measured. advise, apply (dry run, apply, auto) and serve call it; render prints its
// Result and apply acts on it.
package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nettune/nettune/bpf"
	"github.com/nettune/nettune/collect"
	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/policy"
)

// Modes of a run (Meta.Mode).
const (
	ModeCounters = "counters"     // kernel counters only
	ModeBPF      = "counters+bpf" // with the in-path probes
)

// Options say what a run reads and how it analyzes.
type Options struct {
	ProcRoot string // default /proc
	SysRoot  string // default /sys
	// Netns is the namespace a Run reads: "" or "host" is the one nettune runs in, else a
	// name under /run/netns, a path, pod/NAMESPACE/NAME or container/ID (ResolveNetns). A
	// Node reads every namespace and ignores it.
	Netns string
	Links []string // only these interfaces; empty = all
	// Probes attaches the in-path eBPF probes. Without root or kernel support the run
	// falls back to counters only and Meta.BPFNote says why; it never fails for that.
	Probes bool
	XDP    string // XDP counting mode of the probes: off, generic, native or auto
	Drops  bool   // trace kfree_skb drop reasons
	// SettingsEvery lets a long-lived run (serve) re-read settings at most this often
	// (collect.Options.SettingsEvery); 0 reads them every sample.
	SettingsEvery time.Duration
	Policy        policy.Config // must be valid (policy.Config.Validate)
	// Kernel answers what the collector does not read from files; nil is the running
	// kernel (collect.Live).
	Kernel collect.Kernel
	// Owner configures who owns each namespace (a Node's runs); the zero value is the
	// host's defaults (every known CRI socket, the kubelet's log directories).
	Owner owner.Options
	// Workers is how many threads a Node's run enters other namespaces with at once;
	// 0 is collect.DefaultWorkers.
	Workers int
	// Check holds every result to the invariants of a verdict (policy.Check) and fails the
	// analysis when one is broken. The tests of every scenario set it.
	Check bool
}

// Meta is how a run measures: what a report says about where and how it was made.
type Meta struct {
	Host    string
	Kernel  string // release
	Mode    string // ModeCounters or ModeBPF
	XDPMode string // the XDP mode the probes use; "" without probes
	// BPFNote says what could not be attached and why, and which modes were chosen.
	BPFNote string
	Foreign []model.ForeignProg // XDP and tc programs of others, left in place
	// Coverage is on how many links the in-path probes count and why not on the rest
	// (model.InPath.Coverage); nil without in-path probes.
	Coverage *model.Coverage
}

// Result is one measured interval: the difference between two samples, what the policy made
// of it, and how it was measured.
type Result struct {
	Meta   Meta
	Delta  *model.Delta
	Report *policy.Report

	policy policy.Config // what analyzed it (Totals analyzes again)
}

// Run is one command's measuring: its collector and, when asked for, its probes.
type Run struct {
	o      Options
	meta   Meta
	probes *bpf.Probes
	locks  *bpf.SockLocks
	col    *collect.Collector
	err    error // the --netns reference could not be resolved: every Sample returns it
}

// Open prepares a run; it reads nothing yet but the host's name and kernel release, and
// attaches the probes when asked for. Close releases it.
func Open(o Options) *Run {
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	r := &Run{o: o, meta: Meta{Mode: ModeCounters,
		Host:   firstLine(filepath.Join(o.ProcRoot, "sys", "kernel", "hostname")),
		Kernel: firstLine(filepath.Join(o.ProcRoot, "sys", "kernel", "osrelease"))}}
	// A pod or container is found once, at the start: its namespace's path then stays the
	// run's (a later pod of the same name is another namespace).
	ns, err := ResolveNetns(context.Background(), o.Netns, o.ProcRoot, o.Owner)
	if err != nil {
		r.err = err
		r.col = collect.New(collect.Options{ProcRoot: o.ProcRoot, SysRoot: o.SysRoot, Kernel: o.Kernel})
		return r
	}
	o.Netns = ns
	r.o = o
	co := collect.Options{ProcRoot: o.ProcRoot, SysRoot: o.SysRoot, Netns: o.Netns, Links: o.Links,
		SettingsEvery: o.SettingsEvery, Kernel: o.Kernel}
	if o.Probes {
		r.probes, r.meta.BPFNote = attach(o)
		if r.probes != nil {
			r.meta.Mode = ModeBPF
			co.InPath = r.probes
		}
		// Whether applications set their sockets' buffers decides between a sysctl and
		// advice to the application (docs/rules.md row 11); without the iterators it stays
		// unknown and the policy falls back to the buffers' sizes.
		if os.Geteuid() == 0 {
			if l, err := bpf.LoadSockLocks(); err == nil {
				r.locks = l
				co.BufferLocks = l
			} else {
				r.meta.BPFNote = joinNote(r.meta.BPFNote, "whether applications set SO_RCVBUF is unknown: "+err.Error())
			}
		}
	}
	r.col = collect.New(co)
	return r
}

// attach attaches the in-path counters and drop tracing, or says why not.
func attach(o Options) (*bpf.Probes, string) {
	if os.Geteuid() != 0 {
		return nil, "counters only: eBPF probes need root"
	}
	p, err := bpf.Attach(bpf.Options{Targets: []bpf.Target{{Netns: o.Netns, Links: o.Links}}, XDPMode: o.XDP, InPath: true, Drops: o.Drops})
	if err != nil {
		return nil, fmt.Sprintf("counters only: %v", err)
	}
	return p, strings.Join(p.Notes, "; ")
}

// resolver names the owners of one interval's sockets: a fresh one each interval, so pods
// created since the last are named (made only when a finding's socket has a holder).
func (r *Run) resolver() *owner.Resolver {
	o := r.o.Owner
	if o.ProcRoot == "" {
		o.ProcRoot = r.o.ProcRoot
	}
	return owner.NewResolver(o)
}

// Meta is how the run measures before any interval: the mode, and why probes are missing.
func (r *Run) Meta() Meta { return r.meta }

// Netns is the namespace the run reads, its --netns reference resolved (ResolveNetns): ""
// for nettune's own, else a name under /run/netns or a path. Changes to that namespace
// enter it through this, not the reference.
func (r *Run) Netns() string { return r.o.Netns }

// Sample reads everything once (collect.Collector.Sample).
func (r *Run) Sample() (*model.Sample, error) {
	if r.err != nil {
		return nil, r.err
	}
	return r.col.Sample()
}

// Analyze turns the interval from prev to cur into a Result.
func (r *Run) Analyze(prev, cur *model.Sample) (*Result, error) {
	return r.analyze(prev, cur, policy.Settings{})
}

// Findings is Analyze without the per-link funnel: the findings and the plan, which is all
// apply --auto reads.
func (r *Run) Findings(prev, cur *model.Sample) (*Result, error) {
	return r.analyze(prev, cur, policy.Settings{SkipFunnel: true})
}

func (r *Run) analyze(prev, cur *model.Sample, s policy.Settings) (*Result, error) {
	d, err := diff(prev, cur)
	if err != nil {
		return nil, err
	}
	// The sample's reader errors are the policy's to list (Report.Missing), once.
	res := &Result{Meta: r.meta, Delta: d, Report: policy.AnalyzeWith(d, s, r.o.Policy), policy: r.o.Policy}
	if r.o.Check {
		if err := policy.Check(res.Report, d); err != nil {
			return nil, fmt.Errorf("report breaks the invariants: %w", err)
		}
	}
	nameSocketOwners(context.Background(), []socketScope{{report: res.Report}}, r.o.ProcRoot, r.resolver)
	if ip := cur.InPath; ip != nil {
		res.Meta.XDPMode, res.Meta.Foreign, res.Meta.Coverage = ip.XDPMode, ip.Foreign, ip.Coverage
		if ip.Note != "" { // the probes' notes so far, those of attaching included
			res.Meta.BPFNote = ip.Note
		}
	}
	return res, nil
}

func diff(prev, cur *model.Sample) (*model.Delta, error) {
	d, err := model.Diff(prev, cur)
	if err != nil {
		return nil, fmt.Errorf("diff samples: %w", err)
	}
	return d, nil
}

// Measure samples, waits (wait returns when the interval is over, or ctx's error), samples
// again and analyzes the interval.
func (r *Run) Measure(ctx context.Context, wait func(context.Context) error) (*Result, error) {
	first, err := r.Sample()
	if err != nil {
		return nil, err
	}
	if err := wait(ctx); err != nil {
		return nil, err
	}
	second, err := r.Sample()
	if err != nil {
		return nil, err
	}
	return r.Analyze(first, second)
}

// Close releases the collector's namespace thread and detaches every probe.
func (r *Run) Close() {
	r.col.Close()
	if r.probes != nil {
		r.probes.Close()
	}
	if r.locks != nil {
		r.locks.Close()
	}
}

// firstLine is the first line of a small file such as /proc/sys/kernel/hostname; "" when it
// cannot be read (the report then names no host).
func firstLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return string(bytes.TrimSpace(line))
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
