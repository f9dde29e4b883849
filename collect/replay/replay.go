// Package replay answers a collector's questions to the kernel from a recording: the
// netlink dumps (links with stats64, qdiscs, sock_diag), the ethtool answers (driver info,
// ring, channels, string set, statistics), the clock and the CPU count of each sample, next
// to copies of the /proc and /sys files the readers read. A recorded host runs through
// nettune's whole pipeline without root and without touching the machine it runs on (the
// end-to-end test); Recorder makes such a recording from a live host.
//
// A recording is a directory with one sample-N directory per sample: kernel.json (Sample)
// and the proc and sys trees of that instant.
package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/safchain/ethtool"

	"github.com/nettune/nettune/collect/netdev"
	"github.com/nettune/nettune/internal/nldump"
)

// Sample is what the kernel answered during one sample, besides files.
type Sample struct {
	Time    time.Time          `json:"time"`
	NumCPU  int                `json:"ncpu"`
	Netlink []Dump             `json:"netlink"`
	Ethtool map[string]*Device `json:"ethtool"` // by interface name
}

// Dump is one netlink dump: the request and the payloads of its answers.
type Dump struct {
	Proto       int      `json:"proto"` // NETLINK_ROUTE, NETLINK_SOCK_DIAG
	Type        uint16   `json:"type"`
	Request     []byte   `json:"request"`
	Answers     [][]byte `json:"answers"`
	Interrupted bool     `json:"interrupted,omitempty"`
	Err         *Err     `json:"error,omitempty"`
}

// Device is the ethtool answers of one interface; a question not asked in a sample is
// absent, and answered from the latest earlier sample that has it (the reader asks for
// string sets and ring support once).
type Device struct {
	DriverInfo *Answer[DriverInfo]       `json:"driver_info,omitempty"`
	Ring       *Answer[ethtool.Ring]     `json:"ring,omitempty"`
	Channels   *Answer[ethtool.Channels] `json:"channels,omitempty"`
	StatNames  *Answer[[]string]         `json:"stat_names,omitempty"`
	Stats      *Answer[[]uint64]         `json:"stats,omitempty"`
}

// DriverInfo is what the reader takes from ETHTOOL_GDRVINFO.
type DriverInfo struct {
	Driver string `json:"driver"`
	NStats uint32 `json:"n_stats"`
}

// Answer is one reply: a value or an error.
type Answer[T any] struct {
	Value T    `json:"value"`
	Err   *Err `json:"error,omitempty"`
}

// Err is a recorded error: an errno (which the reader tells apart: EOPNOTSUPP, ENODEV) or
// only its text.
type Err struct {
	Errno syscall.Errno `json:"errno,omitempty"`
	Text  string        `json:"text"`
}

func recordErr(err error) *Err {
	if err == nil {
		return nil
	}
	e := &Err{Text: err.Error()}
	errors.As(err, &e.Errno)
	return e
}

func (e *Err) err() error {
	switch {
	case e == nil:
		return nil
	case e.Errno != 0:
		return e.Errno
	}
	return errors.New(e.Text)
}

func (a *Answer[T]) get() (T, error) { return a.Value, a.Err.err() }

// Host is a recorded host: a collect.Kernel answering from the current sample, with
// ProcRoot and SysRoot showing that sample's files. Next moves to the next sample.
type Host struct {
	dir     string
	samples []*Sample
	i       int
	root    string
}

// Load opens the recording in dir; tmp is a directory of the caller's where the proc and
// sys links to the current sample are kept.
func Load(dir, tmp string) (*Host, error) {
	h := &Host{dir: dir, root: tmp}
	for i := 0; ; i++ {
		b, err := os.ReadFile(filepath.Join(dir, sampleDir(i), kernelFile))
		if errors.Is(err, os.ErrNotExist) && i > 0 {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("recording: %w", err)
		}
		s := &Sample{}
		if err := json.Unmarshal(b, s); err != nil {
			return nil, fmt.Errorf("recording %s: %w", sampleDir(i), err)
		}
		h.samples = append(h.samples, s)
	}
	return h, h.link()
}

const kernelFile = "kernel.json"

func sampleDir(i int) string { return fmt.Sprintf("sample-%d", i) }

// link points tmp/proc and tmp/sys at the current sample's trees.
func (h *Host) link() error {
	abs, err := filepath.Abs(filepath.Join(h.dir, sampleDir(h.i)))
	if err != nil {
		return err
	}
	for _, tree := range []string{"proc", "sys"} {
		tmp := filepath.Join(h.root, tree+".new")
		if err := os.Symlink(filepath.Join(abs, tree), tmp); err != nil {
			return fmt.Errorf("recording: %w", err)
		}
		if err := os.Rename(tmp, filepath.Join(h.root, tree)); err != nil {
			return fmt.Errorf("recording: %w", err)
		}
	}
	return nil
}

// Samples is how many samples the recording has.
func (h *Host) Samples() int { return len(h.samples) }

// Next moves to the next sample: its answers, its files.
func (h *Host) Next() error {
	if h.i+1 >= len(h.samples) {
		return fmt.Errorf("recording has %d samples", len(h.samples))
	}
	h.i++
	return h.link()
}

// ProcRoot and SysRoot are the current sample's trees.
func (h *Host) ProcRoot() string { return filepath.Join(h.root, "proc") }
func (h *Host) SysRoot() string  { return filepath.Join(h.root, "sys") }

func (h *Host) Now() time.Time { return h.samples[h.i].Time }
func (h *Host) NumCPU() int    { return h.samples[h.i].NumCPU }

// Netlink answers dumps from the current sample.
func (h *Host) Netlink(proto int) (nldump.Dumper, error) { return dumper{h, proto}, nil }

// Ethtool answers from the current sample, or an earlier one.
func (h *Host) Ethtool() (netdev.Ethtool, error) { return devices{h}, nil }

type dumper struct {
	h     *Host
	proto int
}

func (d dumper) Dump(typ uint16, body []byte, fn func([]byte) error) (bool, error) {
	for _, dump := range d.h.samples[d.h.i].Netlink {
		if dump.Proto != d.proto || dump.Type != typ || string(dump.Request) != string(body) {
			continue
		}
		for _, a := range dump.Answers {
			if err := fn(a); err != nil {
				return dump.Interrupted, err
			}
		}
		return dump.Interrupted, dump.Err.err()
	}
	return false, fmt.Errorf("recording %s: no netlink dump %d of protocol %d", sampleDir(d.h.i), typ, d.proto)
}

func (dumper) Close() error { return nil }

type devices struct{ h *Host }

// answer finds the latest answer to what of intf up to the current sample.
func answer[T any](h *Host, intf, what string, pick func(*Device) *Answer[T]) (T, error) {
	for i := h.i; i >= 0; i-- {
		if d := h.samples[i].Ethtool[intf]; d != nil {
			if a := pick(d); a != nil {
				return a.get()
			}
		}
	}
	var zero T
	return zero, fmt.Errorf("recording %s: no ethtool %s of %s", sampleDir(h.i), what, intf)
}

func (d devices) DriverInfo(intf string) (ethtool.DrvInfo, error) {
	i, err := answer(d.h, intf, "driver info", func(d *Device) *Answer[DriverInfo] { return d.DriverInfo })
	return ethtool.DrvInfo{Driver: i.Driver, NStats: i.NStats}, err
}

func (d devices) Ring(intf string) (ethtool.Ring, error) {
	return answer(d.h, intf, "ring", func(d *Device) *Answer[ethtool.Ring] { return d.Ring })
}

func (d devices) Channels(intf string) (ethtool.Channels, error) {
	return answer(d.h, intf, "channels", func(d *Device) *Answer[ethtool.Channels] { return d.Channels })
}

func (d devices) StatNames(intf string, n uint32) ([]string, error) {
	names, err := answer(d.h, intf, "string set", func(d *Device) *Answer[[]string] { return d.StatNames })
	if err == nil && len(names) != int(n) {
		return nil, fmt.Errorf("%w: recorded %d statistics, asked for %d", netdev.ErrUnavailable, len(names), n)
	}
	return names, err
}

func (d devices) Stats(intf string, n uint32) ([]uint64, error) {
	// Statistics move: only the current sample's answer will do.
	dev := d.h.samples[d.h.i].Ethtool[intf]
	if dev == nil || dev.Stats == nil {
		return nil, fmt.Errorf("recording %s: no ethtool statistics of %s", sampleDir(d.h.i), intf)
	}
	v, err := dev.Stats.get()
	if err == nil && len(v) != int(n) {
		return nil, fmt.Errorf("%w: recorded %d statistics, asked for %d", netdev.ErrUnavailable, len(v), n)
	}
	return v, err
}

func (devices) Close() {}
