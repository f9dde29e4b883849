// Package collect assembles one model.Sample from the counter readers and, when attached,
// the in-path probes.
package collect

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/nettune/nettune/collect/kstat"
	"github.com/nettune/nettune/collect/netdev"
	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/internal/nldump"
	"github.com/nettune/nettune/model"
)

// Kernel is what a Collector asks the kernel besides the files under ProcRoot and SysRoot:
// netlink dumps, ethtool, the clock and the CPU count. Live asks the running kernel; a
// recording's answers (collect/replay) let a recorded host run through nettune without root.
type Kernel interface {
	Now() time.Time
	NumCPU() int
	// Netlink opens a netlink socket of protocol proto in the calling thread's namespace.
	Netlink(proto int) (nldump.Dumper, error)
	// Ethtool opens the ethtool requests of the calling thread's namespace.
	Ethtool() (netdev.Ethtool, error)
}

// Live is the running kernel.
var Live Kernel = live{}

type live struct{}

func (live) Now() time.Time                           { return time.Now() }
func (live) NumCPU() int                              { return runtime.NumCPU() }
func (live) Netlink(proto int) (nldump.Dumper, error) { return nldump.OpenDumper(proto) }
func (live) Ethtool() (netdev.Ethtool, error)         { return netdev.OpenEthtool() }

// ErrRoot is a /proc or /sys root that is missing or cannot be read: every reader would fail,
// and a sample without them would read as a host without loss.
var ErrRoot = errors.New("/proc or /sys root not readable")

// InPathSource gives cumulative in-path counts (bpf.Probes implements it).
type InPathSource interface {
	Snapshot() (*model.InPath, error)
}

// Options say what to read and where.
type Options struct {
	ProcRoot string   // default /proc
	SysRoot  string   // default /sys
	Netns    string   // name or path; "" = the namespace nettune runs in
	Links    []string // only these interfaces; empty = all
	Sysctls  []string // default kstat.DefaultSysctls
	InPath   InPathSource
	// SettingsEvery lets a long-lived collector (serve) re-read settings — sysctls, RPS masks,
	// whether irqbalance runs — at most this often, while counters are read every sample.
	// Settings rarely change and cost as much to read as counters; they may then be up to
	// this old. 0 reads them every sample.
	SettingsEvery time.Duration
	// Kernel answers what is not read from files; nil is Live.
	Kernel Kernel
	// BufferLocks tells whether applications set their sockets' buffers (bpf.SockLocks);
	// nil leaves it unknown.
	BufferLocks kstat.LockReader
}

// Collector takes samples. Between samples it keeps only the thread parked in the target
// namespace (with that namespace's sysfs mounted): Close releases it.
type Collector struct {
	o      Options
	thread *netns.Thread
	socks  nsSockets
	// prev keeps the socket lists of a collector that samples on (SettingsEvery set: serve)
	// while their counters stand still, as a node's namespaces do (nsPrev); a collector that
	// samples twice (advise) reads them both times.
	prev nsPrev

	rootsOK bool // ProcRoot and SysRoot were found readable

	settingsAt time.Time         // when the settings below were read
	sysctls    map[string]string // host values overlaid with the namespace's
	rps        map[string][]model.RxQueue
	irqbalance bool
}

// freshSettings reports whether this sample must re-read settings.
func (c *Collector) freshSettings(now time.Time) bool {
	return c.o.SettingsEvery == 0 || c.settingsAt.IsZero() || now.Sub(c.settingsAt) >= c.o.SettingsEvery
}

// New returns a collector with defaults filled in.
func New(o Options) *Collector {
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.SysRoot == "" {
		o.SysRoot = "/sys"
	}
	if o.Sysctls == nil {
		o.Sysctls = kstat.DefaultSysctls
	}
	if o.Kernel == nil {
		o.Kernel = Live
	}
	return &Collector{o: o}
}

// Sample reads everything once. Errors that make the sample meaningless (unknown netns or
// interface, no netlink) are returned; a reader that fails alone is noted in Sample.Errors.
func (c *Collector) Sample() (*model.Sample, error) {
	if !c.rootsOK {
		for _, root := range []string{c.o.ProcRoot, c.o.SysRoot} {
			if err := checkRoot(root); err != nil {
				return nil, err
			}
		}
		c.rootsOK = true
	}
	k := c.o.Kernel
	s := &model.Sample{Netns: c.o.Netns, NCPU: k.NumCPU()}
	fresh := c.freshSettings(k.Now())

	// Host-wide values first, from nettune's own namespace: global sysctls are absent in a
	// child netns, softnet_stat and interrupts are per host.
	var err error
	if fresh {
		host, err := kstat.ReadSysctls(c.o.ProcRoot, c.o.Sysctls)
		if err != nil {
			s.Errors = append(s.Errors, fmt.Sprintf("host sysctls: %v", err))
		}
		s.Sysctls = host
	} else {
		s.Sysctls = c.sysctls
	}

	err = c.inNetns(func(sysRoot string) error {
		var prev *nsPrev
		if c.o.SettingsEvery > 0 {
			prev = &c.prev
		}
		if err := c.socks.readCounters(s, c.o.Links, k, c.kstatEnv(k), prev, c.o.InPath); err != nil {
			return err
		}
		var err error
		if s.Softnet, err = kstat.ReadSoftnet(c.o.ProcRoot); err != nil {
			s.Errors = append(s.Errors, fmt.Sprintf("softnet_stat: %v", err))
		}
		if c.o.Netns != "" && fresh {
			ns, err := kstat.ReadSysctls(c.o.ProcRoot, c.o.Sysctls)
			if err != nil {
				s.Errors = append(s.Errors, fmt.Sprintf("netns sysctls: %v", err))
			}
			if s.Sysctls == nil {
				s.Sysctls = map[string]string{}
			}
			for k, v := range ns { // per-netns values override the host's
				s.Sysctls[k] = v
			}
		}
		var physical []string // only devices with a parent bus have queue interrupts
		for i := range s.Links {
			if s.Links[i].Kind == "" && s.Links[i].Name != "lo" {
				physical = append(physical, s.Links[i].Name)
			}
		}
		c.readRPS(s, sysRoot, fresh)
		if s.Interrupts, err = kstat.ReadInterrupts(c.o.ProcRoot, sysRoot, physical); err != nil {
			s.Errors = append(s.Errors, fmt.Sprintf("interrupts: %v", err))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if s.NetRx, err = kstat.ReadSoftirqs(c.o.ProcRoot); err != nil {
		s.Errors = append(s.Errors, fmt.Sprintf("softirqs: %v", err))
	}
	s.Errors = append(s.Errors, kstat.ReadHost(s, c.kstatEnv(k))...)
	if fresh {
		if s.IRQBalance, err = kstat.IRQBalanceRunning(c.o.ProcRoot); err != nil {
			s.Errors = append(s.Errors, fmt.Sprintf("irqbalance: %v", err))
		}
		c.keepSettings(s)
	} else {
		s.IRQBalance = c.irqbalance
	}
	return s, nil
}

// kstatEnv is what the socket-level readers (kstat.ReadNetns, ReadHost) need.
func (c *Collector) kstatEnv(k Kernel) kstat.Env {
	return kstat.Env{ProcRoot: c.o.ProcRoot, Netlink: k.Netlink, Locks: c.o.BufferLocks}
}

// checkRoot: the root is a directory whose entries can be listed.
func checkRoot(root string) error {
	f, err := os.Open(root)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRoot, err)
	}
	defer f.Close()
	if _, err := f.Readdirnames(1); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrRoot, root, err)
	}
	return nil
}

// readRPS fills each link's RPS settings: read on a fresh sample, else the kept ones.
func (c *Collector) readRPS(s *model.Sample, sysRoot string, fresh bool) {
	// rps_flow_cnt only matters when RFS is on, which takes the global flow table.
	rfs := s.Sysctls["net.core.rps_sock_flow_entries"] != "0"
	var nd *kstat.NetDir
	for i := range s.Links {
		l := &s.Links[i]
		if q, ok := c.rps[l.Name]; ok && !fresh {
			l.RxQueues = q
			continue
		}
		if nd == nil {
			var err error
			if nd, err = kstat.OpenNetDir(sysRoot); err != nil {
				s.Errors = append(s.Errors, fmt.Sprintf("rps: %v", err))
				return
			}
			defer nd.Close()
		}
		q, err := nd.RPS(l.Name, netdev.RxQueueBound(l), rfs)
		if err != nil {
			s.Errors = append(s.Errors, fmt.Sprintf("%s rps: %v", l.Name, err))
		}
		l.RxQueues = q
	}
}

// keepSettings remembers a fresh sample's settings for the samples that reuse them.
func (c *Collector) keepSettings(s *model.Sample) {
	if c.o.SettingsEvery == 0 {
		return
	}
	c.settingsAt, c.sysctls, c.irqbalance = s.Time, s.Sysctls, s.IRQBalance
	c.rps = make(map[string][]model.RxQueue, len(s.Links))
	for _, l := range s.Links {
		c.rps[l.Name] = l.RxQueues
	}
}

// inNetns runs fn inside the target namespace with a sysfs root that shows that namespace's
// devices. A fixture sysfs root is used as given.
func (c *Collector) inNetns(fn func(sysRoot string) error) error {
	if c.o.Netns == "" || filepath.Clean(c.o.SysRoot) != "/sys" {
		return netns.Do(c.o.Netns, func() error { return fn(c.o.SysRoot) })
	}
	if c.thread == nil {
		th, err := netns.NewThread(c.o.Netns, netns.ReadOnly)
		if err != nil {
			return err
		}
		c.thread = th
	}
	return c.thread.Do(fn)
}

// Close releases the sockets and the namespace thread.
func (c *Collector) Close() {
	c.socks.close()
	if c.thread != nil {
		c.thread.Close()
		c.thread = nil
	}
}
