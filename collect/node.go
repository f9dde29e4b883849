package collect

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nettune/nettune/collect/kstat"
	"github.com/nettune/nettune/collect/netnsfind"
	"github.com/nettune/nettune/knob"
	"github.com/nettune/nettune/model"
	"golang.org/x/sys/unix"
)

// NodeOptions say how a Node samples every namespace of the host.
type NodeOptions struct {
	ProcRoot      string   // default /proc
	SysRoot       string   // default /sys; read only for nettune's own namespace
	Sysctls       []string // default kstat.DefaultSysctls
	InPath        InPathSource
	SettingsEvery time.Duration // as Options.SettingsEvery, per namespace
	Kernel        Kernel        // nil is Live
	BufferLocks   kstat.LockReader
	// Workers is how many threads enter the other namespaces at once; 0 is DefaultWorkers.
	Workers int
}

// DefaultWorkers bounds the threads a Node keeps inside other namespaces at one time: the
// reads are short system calls, more threads than CPUs would only queue.
var DefaultWorkers = min(runtime.NumCPU(), 4)

// Node samples every network namespace a discovery found (docs/architecture.md, "Every
// namespace of a node"). nettune's own namespace gets a full Collector (host-wide counters,
// sysfs, interrupts); every other namespace gets its own counters only, read by a small pool
// of threads that enter it with setns(2) through a handle kept open between samples.
type Node struct {
	o NodeOptions
	// nsKeys are the sysctls read inside the other namespaces: the knob table's per-netns
	// ones (a global key is absent there or a read-only copy of the host's), and keys the
	// table does not know.
	nsKeys  []string
	isNsKey map[string]bool
	self    uint64     // inode of nettune's own namespace
	host    *Collector // samples it
	ns      map[uint64]*nodeNS
}

// nodeNS is what a Node keeps for one other namespace between samples.
type nodeNS struct {
	h           *netnsfind.Handle
	socks       nsSockets
	sysctlFiles *kstat.SysctlFiles // opened inside the namespace when first read (ReadSettings)
	sysctls     map[string]string  // the namespace's own values, read at settingsAt
	settingsAt  time.Time
	prev        nsPrev
	// view is the sysctls the last sample was given, and what they were made of: while
	// that holds, the next sample shares the map (samples never change it in place).
	view   map[string]string
	viewOf sysctlSources
}

// sysctlSources is what a namespace's sample's sysctls are made of.
type sysctlSources struct {
	host       uintptr   // the host's map (a Collector keeps one between settings reads)
	entries    uint64    // the conntrack table's entry count,
	hasEntries bool      // when the namespace has a table
	own        time.Time // when its own were read; zero when not given
}

func (n *nodeNS) close() {
	n.socks.close()
	if n.sysctlFiles != nil {
		n.sysctlFiles.Close()
	}
	n.h.Close()
}

// NamespaceSample is one namespace's sample. The host namespace's (nettune's own) holds the
// host-wide counters too; the others hold only what belongs to the namespace, with the
// global sysctls overlaid by the namespace's own values (as a Collector's for a child).
type NamespaceSample struct {
	Namespace netnsfind.Namespace
	Own       bool // nettune's own namespace
	Sample    *model.Sample
	// Settings: Sample.Sysctls holds the namespace's own sysctls. A Node reads those of the
	// other namespaces when asked (ReadSettings); until then they hold the host's global
	// sysctls only (and the conntrack table's entry count), a per-netns value is unknown.
	Settings bool
}

// NodeSample is every namespace's sample at one time.
type NodeSample struct {
	Time       time.Time
	Namespaces []NamespaceSample // in the discovery's order (host first)
	// Gone are namespaces the discovery listed that ended before they could be entered.
	Gone []netnsfind.ID
	// Errors are namespaces that could not be read for another reason, one line each.
	Errors []string
	// InPath is the probes' whole view (every namespace's points and coverage); each
	// namespace's Sample.InPath is its own part (model.InPath.ForNetns). Nil without probes.
	InPath *model.InPath
}

// Lookup returns the sample of the namespace with the inode.
func (s *NodeSample) Lookup(ino uint64) (*NamespaceSample, bool) {
	for i := range s.Namespaces {
		if s.Namespaces[i].Namespace.ID.Ino == ino {
			return &s.Namespaces[i], true
		}
	}
	return nil, false
}

// NewNode returns a Node; it reads nothing yet but the inode of its own namespace.
func NewNode(o NodeOptions) (*Node, error) {
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.Sysctls == nil {
		o.Sysctls = kstat.DefaultSysctls
	}
	if o.Kernel == nil {
		o.Kernel = Live
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	// The calling thread's, not the process's: a thread-group leader that a library moved
	// into another namespace (and Go then wedged, since it never ends the main thread) would
	// make /proc/self name the wrong one.
	var st unix.Stat_t
	self := filepath.Join(o.ProcRoot, "thread-self", "ns", "net")
	if err := unix.Stat(self, &st); err != nil {
		return nil, fmt.Errorf("%w: own netns %s: %w", ErrRoot, self, err)
	}
	// The own namespace's collector takes the probes' snapshot, right after its SNMP read.
	host := New(Options{ProcRoot: o.ProcRoot, SysRoot: o.SysRoot, Sysctls: o.Sysctls,
		SettingsEvery: o.SettingsEvery, Kernel: o.Kernel, BufferLocks: o.BufferLocks, InPath: o.InPath})
	var nsKeys []string
	isNsKey := map[string]bool{}
	for _, k := range o.Sysctls {
		if r, ok := knob.Lookup(knob.ID{Kind: knob.Sysctl, Key: k}); !ok || r.Scope == model.ScopeNetns {
			nsKeys = append(nsKeys, k)
			isNsKey[k] = true
		}
	}
	return &Node{o: o, nsKeys: nsKeys, isNsKey: isNsKey, self: st.Ino, host: host, ns: map[uint64]*nodeNS{}}, nil
}

// Sample reads every namespace of snap once. Namespaces the Node kept from earlier samples
// and snap no longer lists are released: what is gone is not held alive. A namespace that
// ends between the discovery and its read is listed in Gone, without an error.
//
// Every namespace is read as close to the own one at each sample: a namespace new to the
// Node is first entered and read once uncounted (warm: its handle, sockets and files
// opened, its socket lists dumped: at 500 namespaces most of a first sample), then the own
// namespace is read with the probes' snapshot right after its SNMP counters, then the
// others. So each namespace's interval between two samples is the probes' interval within
// a few ms, the first interval included (docs/architecture.md, "Every namespace of a node").
func (n *Node) Sample(snap *netnsfind.Snapshot) (*NodeSample, error) {
	listed := make(map[uint64]bool, len(snap.Namespaces))
	for _, ns := range snap.Namespaces {
		listed[ns.ID.Ino] = true
	}
	for ino, st := range n.ns {
		if !listed[ino] {
			st.close()
			delete(n.ns, ino)
		}
	}

	out := &NodeSample{Namespaces: make([]NamespaceSample, len(snap.Namespaces))}
	fresh := n.o.SettingsEvery == 0
	var jobs, opened []int // indexes of the other namespaces; of those new to the Node
	for i, ns := range snap.Namespaces {
		out.Namespaces[i].Namespace = ns
		if ns.ID.Ino == n.self {
			out.Namespaces[i].Own = true
			continue
		}
		if _, ok := n.ns[ns.ID.Ino]; !ok {
			h, err := snap.Namespaces[i].Open()
			if errors.Is(err, netnsfind.ErrGone) {
				out.Gone = append(out.Gone, ns.ID)
				continue
			}
			if err != nil {
				out.Errors = append(out.Errors, err.Error())
				continue
			}
			n.ns[ns.ID.Ino] = &nodeNS{h: h, socks: nsSockets{keepFiles: true, linkAttrsFor: n.o.SettingsEvery}}
			opened = append(opened, i)
		}
		jobs = append(jobs, i)
	}
	out.Errors = append(out.Errors, n.inEach(out, opened, func(_ *NamespaceSample, st *nodeNS) error {
		n.warm(st)
		return nil
	})...)

	hostSample, err := n.host.Sample()
	if err != nil {
		return nil, err
	}
	out.Time = hostSample.Time
	for i := range out.Namespaces {
		if out.Namespaces[i].Own {
			out.Namespaces[i].Sample, out.Namespaces[i].Settings = hostSample, true
		}
	}
	out.Errors = append(out.Errors, n.inEach(out, jobs, func(ns *NamespaceSample, st *nodeNS) error {
		s, err := n.readOther(st, hostSample.Sockstat)
		if err != nil {
			return err
		}
		s.Netns = ns.Namespace.Path()
		ns.Sample = s
		// Settings read recently enough (serve) are the namespace's as a Collector's are.
		ns.Settings = !fresh && !st.settingsAt.IsZero() && s.Time.Sub(st.settingsAt) < n.o.SettingsEvery
		s.Sysctls = n.sysctlView(st, s, hostSample.Sysctls, ns.Settings)
		return nil
	})...)

	// The own namespace's collector took the probes' whole view; each namespace gets the
	// part of its inode. Namespaces that could not be read are dropped.
	ip := hostSample.InPath
	var views func(uint64) *model.InPath
	if ip != nil {
		views = ip.NetnsViews()
	}
	kept := out.Namespaces[:0]
	for _, s := range out.Namespaces {
		if s.Sample == nil {
			continue
		}
		if views != nil {
			s.Sample.InPath = views(s.Namespace.ID.Ino)
		}
		kept = append(kept, s)
	}
	out.Namespaces, out.InPath = kept, ip
	return out, nil
}

// warm reads a namespace new to the Node once and drops the sample: what the namespace
// keeps is opened (the link reader's and socket readers' netlink sockets, the SNMP files)
// and what a first read does more than later ones is done (its socket lists
// dumped, its links' ethtool string sets learnt). Its first counted read then costs what a
// later one does, so every namespace is read as soon after the own one at the first sample
// as at the next. Its errors are the counted read's to report.
func (n *Node) warm(st *nodeNS) {
	_, _ = n.readOther(st, nil)
}

// inEach runs fn for the namespaces of out at the indexes jobs on at most Workers threads,
// each entering one namespace after the other and returning to nettune's own at the end.
// It returns fn's errors, one line each.
func (n *Node) inEach(out *NodeSample, jobs []int, fn func(*NamespaceSample, *nodeNS) error) []string {
	queue := make(chan int, len(jobs))
	for _, j := range jobs {
		queue <- j
	}
	close(queue)
	var (
		mu   sync.Mutex
		errs []string
		wg   sync.WaitGroup
	)
	note := func(s string) {
		mu.Lock()
		errs = append(errs, s)
		mu.Unlock()
	}
	for range min(n.o.Workers, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			orig, err := unix.Open(filepath.Join(n.o.ProcRoot, "thread-self", "ns", "net"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				runtime.UnlockOSThread()
				note(fmt.Sprintf("own netns: %v", err))
				return
			}
			defer unix.Close(orig)
			for j := range queue {
				ns := &out.Namespaces[j]
				st := n.ns[ns.Namespace.ID.Ino]
				if err := unix.Setns(st.h.Fd(), unix.CLONE_NEWNET); err != nil {
					note(fmt.Sprintf("enter netns %s: %v", ns.Namespace.ID, err))
					continue
				}
				if err := fn(ns, st); err != nil {
					note(fmt.Sprintf("netns %s: %v", ns.Namespace.ID, err))
				}
				if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
					// Leave the thread locked: Go retires it instead of reusing it in
					// the wrong namespace. The other workers take the rest of the queue.
					note(fmt.Sprintf("leave netns %s: %v", ns.Namespace.ID, err))
					return
				}
			}
			runtime.UnlockOSThread()
		}()
	}
	wg.Wait()
	return errs
}

// readOther reads one other namespace's counters on a thread inside it; host is the host
// namespace's sockstat of the same sample, nil when not read yet.
func (n *Node) readOther(st *nodeNS, host *model.Sockstat) (*model.Sample, error) {
	k := n.o.Kernel
	s := &model.Sample{NCPU: k.NumCPU()}
	env := kstat.Env{ProcRoot: n.o.ProcRoot, Netlink: st.socks.keptOpener(k.Netlink), Locks: n.o.BufferLocks,
		HostSockstat: host}
	if err := st.socks.readCounters(s, nil, k, env, &st.prev, nil); err != nil {
		return nil, err
	}
	return s, nil
}

// sysctlView is the sysctls of a namespace's sample s: the host's global ones, the conntrack
// table's entry count, and with own the namespace's own values (ReadSettings'). The entry
// count is there because the table's fill decides a finding on its own (a gauge, not a
// counter that moves); it comes with the conntrack counters, as the sysctl prints it.
func (n *Node) sysctlView(st *nodeNS, s *model.Sample, host map[string]string, own bool) map[string]string {
	src := sysctlSources{host: uintptr(reflect.ValueOf(host).UnsafePointer())}
	if f := st.socks.files; f != nil && s.Conntrack != nil {
		src.entries, src.hasEntries = f.ConntrackEntries()
	}
	if own {
		src.own = st.settingsAt
	}
	if st.view != nil && src == st.viewOf {
		return st.view
	}
	m := make(map[string]string, len(host)+1)
	for key, v := range host {
		if !n.isNsKey[key] {
			m[key] = v
		}
	}
	if src.hasEntries {
		m[ctCountKey] = strconv.FormatUint(src.entries, 10)
	}
	if own {
		maps.Copy(m, st.sysctls)
	}
	st.view, st.viewOf = m, src
	return m
}

const ctCountKey = "net.netfilter.nf_conntrack_count"

// ownSysctls is the sysctls of nettune's own namespace in s (nil when it is not there).
func (s *NodeSample) ownSysctls() map[string]string {
	for _, ns := range s.Namespaces {
		if ns.Own && ns.Sample != nil {
			return ns.Sample.Sysctls
		}
	}
	return nil
}

// ReadSettings reads the own sysctls of the namespaces of s with the inodes (those whose
// sample has no Settings yet) into their samples: a sample of every namespace holds the
// counters, and the settings — which only findings and plans use — are read for the
// namespaces that have findings. Opening a namespace's /proc/sys files is most of what a
// namespace new to the Node costs (each lookup walks the dentries of that name of every
// namespace), which the quiet ones of a node are spared. Values read are kept for
// SettingsEvery, as a Collector keeps its. It returns one line per namespace that failed.
func (n *Node) ReadSettings(s *NodeSample, inos []uint64) []string {
	var jobs []int
	for i := range s.Namespaces {
		ns := &s.Namespaces[i]
		if !ns.Settings && ns.Sample != nil && slices.Contains(inos, ns.Namespace.ID.Ino) && n.ns[ns.Namespace.ID.Ino] != nil {
			jobs = append(jobs, i)
		}
	}
	return n.inEach(s, jobs, func(ns *NamespaceSample, st *nodeNS) error {
		var err error
		if st.sysctlFiles == nil {
			st.sysctlFiles, err = kstat.OpenSysctls(n.o.ProcRoot, n.nsKeys)
		}
		var own map[string]string
		if err == nil {
			own, err = st.sysctlFiles.Read()
		}
		st.sysctls, st.settingsAt = own, ns.Sample.Time
		ns.Settings = true
		ns.Sample.Sysctls = n.sysctlView(st, ns.Sample, s.ownSysctls(), true)
		if err != nil {
			return fmt.Errorf("sysctls: %w", err)
		}
		return nil
	})
}

// Close releases every namespace's handle and sockets and the own namespace's collector.
func (n *Node) Close() {
	for ino, st := range n.ns {
		st.close()
		delete(n.ns, ino)
	}
	n.host.Close()
}
