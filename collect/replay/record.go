package replay

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/safchain/ethtool"

	"github.com/nettune/nettune/collect"
	"github.com/nettune/nettune/collect/netdev"
	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/internal/nldump"
	"github.com/nettune/nettune/model"
)

// Recorder is a collect.Kernel that asks another (the live kernel) and keeps every answer,
// for the sample begun by the last Next (the first begins at once).
type Recorder struct {
	live    collect.Kernel
	samples []*Sample
}

// NewRecorder records what live answers.
func NewRecorder(live collect.Kernel) *Recorder {
	r := &Recorder{live: live}
	r.Next()
	return r
}

// Next begins the next sample's recording.
func (r *Recorder) Next() { r.samples = append(r.samples, &Sample{Ethtool: map[string]*Device{}}) }

func (r *Recorder) cur() *Sample { return r.samples[len(r.samples)-1] }

// Now records the last time asked for in a sample: the sample's own (collect stamps the
// sample after its settings check).
func (r *Recorder) Now() time.Time {
	t := r.live.Now()
	r.cur().Time = t
	return t
}

func (r *Recorder) NumCPU() int {
	n := r.live.NumCPU()
	r.cur().NumCPU = n
	return n
}

func (r *Recorder) Netlink(proto int) (nldump.Dumper, error) {
	d, err := r.live.Netlink(proto)
	if err != nil {
		return nil, err
	}
	return recDumper{r, proto, d}, nil
}

func (r *Recorder) Ethtool() (netdev.Ethtool, error) {
	e, err := r.live.Ethtool()
	if err != nil {
		return nil, err
	}
	return recEthtool{r, e}, nil
}

type recDumper struct {
	r     *Recorder
	proto int
	d     nldump.Dumper
}

func (d recDumper) Dump(typ uint16, body []byte, fn func([]byte) error) (bool, error) {
	dump := Dump{Proto: d.proto, Type: typ, Request: slices.Clone(body), Answers: [][]byte{}}
	intr, err := d.d.Dump(typ, body, func(m []byte) error {
		dump.Answers = append(dump.Answers, slices.Clone(m))
		return fn(m)
	})
	dump.Interrupted, dump.Err = intr, recordErr(err)
	s := d.r.cur()
	// A repeated dump (after an interrupted one) replaces the earlier answers.
	s.Netlink = slices.DeleteFunc(s.Netlink, func(x Dump) bool {
		return x.Proto == d.proto && x.Type == typ && string(x.Request) == string(body)
	})
	s.Netlink = append(s.Netlink, dump)
	return intr, err
}

func (d recDumper) Close() error { return d.d.Close() }

type recEthtool struct {
	r *Recorder
	e netdev.Ethtool
}

func (e recEthtool) dev(intf string) *Device {
	s := e.r.cur()
	d := s.Ethtool[intf]
	if d == nil {
		d = &Device{}
		s.Ethtool[intf] = d
	}
	return d
}

func (e recEthtool) DriverInfo(intf string) (ethtool.DrvInfo, error) {
	v, err := e.e.DriverInfo(intf)
	e.dev(intf).DriverInfo = &Answer[DriverInfo]{Value: DriverInfo{Driver: v.Driver, NStats: v.NStats}, Err: recordErr(err)}
	return v, err
}

func (e recEthtool) Ring(intf string) (ethtool.Ring, error) {
	v, err := e.e.Ring(intf)
	e.dev(intf).Ring = &Answer[ethtool.Ring]{Value: v, Err: recordErr(err)}
	return v, err
}

func (e recEthtool) Channels(intf string) (ethtool.Channels, error) {
	v, err := e.e.Channels(intf)
	e.dev(intf).Channels = &Answer[ethtool.Channels]{Value: v, Err: recordErr(err)}
	return v, err
}

func (e recEthtool) StatNames(intf string, n uint32) ([]string, error) {
	v, err := e.e.StatNames(intf, n)
	e.dev(intf).StatNames = &Answer[[]string]{Value: v, Err: recordErr(err)}
	return v, err
}

func (e recEthtool) Stats(intf string, n uint32) ([]uint64, error) {
	v, err := e.e.Stats(intf, n)
	e.dev(intf).Stats = &Answer[[]uint64]{Value: slices.Clone(v), Err: recordErr(err)}
	return v, err
}

func (e recEthtool) Close() { e.e.Close() }

// Files copies the files the readers read for sample s, taken in namespace ns ("" = this
// one) through procRoot, into the recording's current sample under dir: the namespace's
// /proc/net files, the host's softirqs and interrupts, the kernel release, the sysctls as
// the sample has them (the namespace's value over the host's), and the RPS settings of its
// links. The host name is recorded as host: a recording names no real machine.
func (r *Recorder) Files(dir, ns, procRoot, host string, s *model.Sample) error {
	dst := filepath.Join(dir, sampleDir(len(r.samples)-1))
	write := func(rel, content string) error {
		p := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, []byte(content), 0o644)
	}
	cp := func(from, rel string, optional bool) error {
		b, err := os.ReadFile(from)
		if optional && os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return write(rel, string(b))
	}
	err := netns.Do(ns, func() error {
		net := filepath.Join(procRoot, "thread-self", "net")
		for _, f := range []string{"snmp", "netstat", "snmp6", "softnet_stat", "sockstat", "sockstat6"} {
			if err := cp(filepath.Join(net, f), filepath.Join("proc", "net", f), f == "snmp6" || f == "sockstat6"); err != nil {
				return err
			}
		}
		return cp(filepath.Join(net, "stat", "nf_conntrack"), filepath.Join("proc", "net", "stat", "nf_conntrack"), true)
	})
	if err != nil {
		return fmt.Errorf("record %s: %w", ns, err)
	}
	for _, f := range []string{"softirqs", "interrupts", filepath.Join("sys", "kernel", "osrelease")} {
		if err := cp(filepath.Join(procRoot, f), filepath.Join("proc", f), false); err != nil {
			return fmt.Errorf("record: %w", err)
		}
	}
	if err := write(filepath.Join("proc", "sys", "kernel", "hostname"), host+"\n"); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	for k, v := range s.Sysctls {
		if err := write(filepath.Join("proc", "sys", strings.ReplaceAll(k, ".", "/")), v+"\n"); err != nil {
			return fmt.Errorf("record: %w", err)
		}
	}
	err = netns.DoWithSysfs(ns, netns.ReadOnly, func(sysRoot string) error {
		for _, l := range s.Links {
			for _, q := range l.RxQueues {
				rel := filepath.Join("class", "net", l.Name, "queues", fmt.Sprintf("rx-%d", q.Queue))
				for _, f := range []string{"rps_cpus", "rps_flow_cnt"} {
					if err := cp(filepath.Join(sysRoot, rel, f), filepath.Join("sys", rel, f), false); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record %s sysfs: %w", ns, err)
	}
	return nil
}

// Write writes the recorded answers of every sample into dir.
func (r *Recorder) Write(dir string) error {
	for i, s := range r.samples {
		b, err := json.MarshalIndent(s, "", " ")
		if err != nil {
			return err
		}
		p := filepath.Join(dir, sampleDir(i), kernelFile)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}
