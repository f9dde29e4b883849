package bpf

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
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
	TCAuto   = "auto"   // tcx, clsact + cls_bpf where the kernel has no tcx
	TCX      = "tcx"    // tcx only
	TCClsact = "clsact" // clsact + cls_bpf even where tcx exists
)

// Options selects what Attach instruments.
type Options struct {
	Netns   string   // namespace name under /run/netns or a path; "" = nettune's own
	Links   []string // interface names in Netns; empty = every up, non-loopback link
	XDPMode string   // off, generic, native, auto ("" = auto); see docs/bpf.md
	TCMode  string   // auto, tcx, clsact ("" = auto)
	InPath  bool     // per-queue packet counters: XDP, tc ingress/egress, xmit
	Drops   bool     // skb:kfree_skb drop accounting
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
	case TCAuto, TCX, TCClsact:
	default:
		return fmt.Errorf("%w: tc mode %q (want auto, tcx or clsact)", ErrOptions, o.TCMode)
	}
	if !o.InPath && !o.Drops {
		return fmt.Errorf("%w: neither in-path counters nor drops requested", ErrOptions)
	}
	return nil
}

// Probes are attached programs and the maps they count into. Close detaches everything.
type Probes struct {
	mu     sync.Mutex
	closed bool

	opts    Options
	nsInode uint64
	names   map[int]string // ifindex → name of every link in the watched namespace
	links   []*watchedLink
	stride  int

	counters countersMaps
	dropsMap *ebpf.Map
	dropProg *ebpf.Program // kept for its run-time statistics
	errMaps  []*ebpf.Map

	reasons map[uint32]string
	syms    *Symbols

	closers []io.Closer // links, filters, programs, maps: closed in reverse order
	xdpMode string
	foreign []model.ForeignProg
	// Notes say what could not be attached and why, and which modes were chosen.
	Notes []string
}

func (p *Probes) note(format string, args ...any) {
	p.Notes = append(p.Notes, fmt.Sprintf(format, args...))
}

// Attach loads and attaches the probes that o asks for. When only some can be attached it
// returns the working subset and explains the rest in Probes.Notes; it fails when nothing
// could be attached.
func Attach(o Options) (*Probes, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	p := &Probes{opts: o, xdpMode: XDPOff}
	ino, err := netnsInode(o.Netns)
	if err != nil {
		return nil, err
	}
	p.nsInode = ino
	attached := 0
	if o.InPath {
		n, err := p.attachCounters()
		if err != nil {
			p.Close()
			return nil, err
		}
		attached += n
	}
	if o.Drops {
		if err := p.attachDrops(DropReasons()); err != nil {
			p.note("drops: %v", err)
		} else {
			attached++
		}
	}
	if attached == 0 {
		p.Close()
		return nil, fmt.Errorf("no probe could be attached: %s", strings.Join(p.Notes, "; "))
	}
	return p, nil
}

// netnsInode identifies the watched namespace the way the programs see it (ns.inum).
func netnsInode(ns string) (uint64, error) {
	path := netns.Path(ns)
	if path == "" {
		path = "/proc/self/ns/net"
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

// Close detaches every program and frees the maps. It is safe to call more than once.
func (p *Probes) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	for i := len(p.closers) - 1; i >= 0; i-- {
		if err := p.closers[i].Close(); err != nil {
			errs = append(errs, err)
		}
	}
	p.closers = nil
	return errors.Join(errs...)
}

func (p *Probes) keep(c io.Closer) { p.closers = append(p.closers, c) }

// ownPID is recorded in clsact filter names so a later start can tell leftovers of a dead
// process from filters of a nettune that is still running.
var ownPID = os.Getpid()
