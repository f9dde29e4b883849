package bpf

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/model"
)

// ErrOptions is returned for invalid Options; nothing was attached.
var ErrOptions = errors.New("invalid probe options")

// XDP modes (Options.XDPMode, InPath.XDPMode).
const (
	XDPOff     = "off"
	XDPGeneric = "generic"
	XDPNative  = "native"
	XDPAuto    = "auto"
)

// tc attach modes (Options.TCMode).
const (
	TCAuto   = "auto"       // TCX (TCClsact where the kernel has no tcx) up to tcPerLinkMax links, TCTrace beyond
	TCX      = "tcx"        // tcx only
	TCClsact = "clsact"     // clsact + cls_bpf even where tcx exists
	TCTrace  = "tracepoint" // the netif_receive_skb and net_dev_queue tracepoints, host-wide
)

// Target is one network namespace and the links in it to count on.
type Target struct {
	Netns string   // name under /run/netns or a path (/proc/PID/ns/net); "" = nettune's own
	Links []string // interface names in Netns; empty = every up, non-loopback link
	// Name is how notes name the namespace, where Netns means little to a person (a
	// /proc/self/fd path of a handle the caller holds); "" is Netns.
	Name string
}

// Options selects what Attach instruments.
type Options struct {
	// Targets are the namespaces and links to count on; none means Target{}: every up,
	// non-loopback link of nettune's own namespace. Drops are traced in every namespace of
	// the host; the targets' links name the interfaces of drop records.
	Targets []Target
	XDPMode string // off, generic, native, auto ("" = auto); see docs/bpf.md
	TCMode  string // auto, tcx, clsact ("" = auto)
	InPath  bool   // per-queue packet counters: XDP, tc ingress/egress, xmit
	Drops   bool   // skb:kfree_skb drop accounting

	perNetns bool // tests: one XDP/tc program copy per namespace, the fallback of kernels that refuse the shared one
}

func (o *Options) normalize() error {
	if o.XDPMode == "" {
		o.XDPMode = XDPAuto
	}
	if o.TCMode == "" {
		o.TCMode = TCAuto
	}
	switch o.XDPMode {
	case XDPOff, XDPGeneric, XDPNative, XDPAuto:
	default:
		return fmt.Errorf("%w: xdp mode %q (want off, generic, native or auto)", ErrOptions, o.XDPMode)
	}
	switch o.TCMode {
	case TCAuto, TCX, TCClsact, TCTrace:
	default:
		return fmt.Errorf("%w: tc mode %q (want auto, tcx, clsact or tracepoint)", ErrOptions, o.TCMode)
	}
	if !o.InPath && !o.Drops {
		return fmt.Errorf("%w: neither in-path counters nor drops requested", ErrOptions)
	}
	if len(o.Targets) == 0 {
		o.Targets = []Target{{}}
	}
	return nil
}

// Probes are attached programs and the maps they count into. Close detaches everything.
type Probes struct {
	mu     sync.Mutex
	closed bool

	opts    Options
	targets []*target // one per namespace, in the order given
	byInode map[uint64]*target
	links   []*watchedLink // every watched link of every target; slot = index
	gaps    []model.Gap    // what could not be watched (Coverage)

	counters   countersMaps
	spec       *ebpf.CollectionSpec // the counter programs, for targets added later
	repl       map[string]*ebpf.Map // the counter maps every program shares
	shared     *linkProgs           // XDP and tc programs of every link; nil = one copy per namespace
	room       room                 // counter map capacity (AddTargets)
	uniq       map[int]*watchedLink // ifindex → the one link by_ifindex names it for
	free       []int                // slots of removed links, for reuse
	xmit       bool                 // the xmit tracepoint program is attached
	tcTrace    bool                 // tracepoints count the tc points (TCTrace)
	tcTraceErr error                // TCTrace was asked for and could not attach
	gro        *groLayout           // the kernel's rx-gro feature bit, once read
	dropsMap   *ebpf.Map
	dropProg   *ebpf.Program // kept for its run-time statistics
	errMaps    []*ebpf.Map

	reasons map[uint32]string
	syms    *Symbols

	btf     *btf.Cache  // the kernel's BTF, decoded once for every load and lookup
	closers []io.Closer // programs, maps, tracing links: closed in reverse order, after the links' own
	xdpMode string
	foreign []model.ForeignProg
	notes   notes
	// Notes say what could not be attached and why, and which modes were chosen; notes that
	// differ only in the link are given once with the links they apply to.
	Notes []string
}

// target is one watched namespace.
type target struct {
	ns    string // as given in Options
	name  string // Target.Name
	inode uint64
	all   bool           // every up, non-loopback link (Links was empty)
	asked []string       // links asked for by name
	names map[int]string // ifindex → name of every link of the namespace
	links []*watchedLink

	progs   *linkProgs  // the XDP and tc programs its links get
	clsact  clsactView  // cls_bpf filters found on its links
	closers []io.Closer // its own program copy (per-namespace fallback)
}

func (p *Probes) note(format string, args ...any) { p.notes.add("", fmt.Sprintf(format, args...)) }

// label names a link in notes: with several namespaces, names repeat, so the inode is added.
func (p *Probes) label(l *watchedLink) string {
	if len(p.targets) > 1 {
		return fmt.Sprintf("%s@%d", l.name, l.t.inode)
	}
	return l.name
}

// Attach loads and attaches the probes that o asks for. When only some can be attached it
// returns the working subset, explains the rest in Probes.Notes and reports it in the
// coverage of every Snapshot; it fails when nothing could be attached. A namespace that
// cannot be opened is an error when it is the only target, a coverage gap otherwise.
func Attach(o Options) (*Probes, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	p, err := newProbes(o)
	if err != nil {
		return nil, err
	}
	attached := 0
	if o.InPath {
		n, err := p.attachCounters()
		if err != nil {
			p.note("in-path: %v", err)
		}
		attached += n
	}
	if o.Drops {
		if err := p.attachDrops(p.dropReasons()); err != nil {
			p.note("drops: %v", err)
		} else {
			attached++
		}
	}
	p.Notes = p.notes.list()
	if attached == 0 {
		p.Close()
		return nil, fmt.Errorf("no probe could be attached: %s", strings.Join(p.Notes, "; "))
	}
	return p, nil
}

// newProbes is a probe set with nothing attached yet, its targets opened.
func newProbes(o Options) (*Probes, error) {
	p := &Probes{opts: o, xdpMode: XDPOff, btf: btf.NewCache()}
	if err := p.openTargets(); err != nil {
		return nil, err
	}
	return p, nil
}

// openTargets identifies each target's namespace by inode (the way the programs see it,
// ns.inum) and merges targets that name the same namespace.
func (p *Probes) openTargets() error {
	p.byInode = map[uint64]*target{}
	for _, tg := range p.opts.Targets {
		ino, err := netnsInode(tg.Netns)
		if err != nil {
			if len(p.opts.Targets) == 1 {
				return err
			}
			p.gaps = append(p.gaps, model.Gap{Reason: model.GapNotFound, Detail: err.Error()})
			continue
		}
		t := p.byInode[ino]
		if t == nil {
			t = &target{ns: tg.Netns, name: tg.Name, inode: ino}
			p.byInode[ino] = t
			p.targets = append(p.targets, t)
		}
		t.all = t.all || len(tg.Links) == 0
		t.asked = append(t.asked, tg.Links...)
	}
	if len(p.targets) == 0 {
		return fmt.Errorf("no target namespace could be opened: %v", p.gaps)
	}
	return nil
}

// netnsInode identifies a namespace the way the programs see it (ns.inum). "" is the
// calling thread's namespace, which attaching uses: /proc/self names the main thread's,
// and the Go runtime parks (never ends) a main thread whose goroutine exits while locked to
// it, so that one may be inside some other namespace.
func netnsInode(ns string) (uint64, error) {
	path := netns.Path(ns)
	if path == "" {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		path = "/proc/thread-self/ns/net"
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return 0, fmt.Errorf("%w: %s", netns.ErrNotFound, ns)
		}
		return 0, fmt.Errorf("stat netns %s: %w", path, err)
	}
	return st.Ino, nil
}

// label is how notes name the namespace.
func (t *target) label() string {
	if t.name != "" {
		return t.name
	}
	return t.ns
}

// Close detaches every program and frees the maps. It is safe to call more than once.
func (p *Probes) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	for _, t := range p.targets {
		errs = append(errs, t.close())
	}
	for i := len(p.closers) - 1; i >= 0; i-- {
		if err := p.closers[i].Close(); err != nil {
			errs = append(errs, err)
		}
	}
	p.closers = nil
	return errors.Join(errs...)
}

// loadOpts are the options of every load: kernel BTF from the cache, maps as given.
func (p *Probes) loadOpts(repl map[string]*ebpf.Map) *ebpf.CollectionOptions {
	return &ebpf.CollectionOptions{MapReplacements: repl, Cache: p.btf}
}

func (p *Probes) keep(c io.Closer) { p.closers = append(p.closers, c) }

// ownPID is recorded in clsact filter names so a later start can tell leftovers of a dead
// process from filters of a nettune that is still running.
var ownPID = os.Getpid()
