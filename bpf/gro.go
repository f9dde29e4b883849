package bpf

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/safchain/ethtool"
	"golang.org/x/sys/unix"
)

// ethtoolGFeatures is ETHTOOL_GFEATURES (linux/ethtool.h).
const ethtoolGFeatures = 0x3a

// groReader tells whether GRO is on, for many links of one namespace. safchain/ethtool's
// Features re-reads the feature names with every call (into a 1 MiB buffer: 0.2 ms and a
// megabyte of garbage per link), yet the names are the kernel's, the same for every device
// of every namespace: they are read once (groLayout), and each link then costs one
// ETHTOOL_GFEATURES ioctl. Read once per namespace instead, 500 namespaces made 500 MB of
// garbage in a second, and the process peaked at 200 MiB.
type groReader struct {
	fd int
	groLayout
}

// groLayout is where rx-gro is among the kernel's feature bits.
type groLayout struct {
	bit    int // index of "rx-gro" among the feature names
	blocks int // 32-bit blocks of feature bits
}

// readGROLayout reads the feature names through link.
func readGROLayout(link string) (groLayout, error) {
	et, err := ethtool.NewEthtool()
	if err != nil {
		return groLayout{}, err
	}
	defer et.Close()
	names, err := et.FeatureNames(link)
	if err != nil {
		return groLayout{}, fmt.Errorf("feature names: %w", err)
	}
	bit, ok := names["rx-gro"]
	if !ok {
		return groLayout{}, fmt.Errorf("kernel names no rx-gro feature")
	}
	return groLayout{bit: int(bit), blocks: (len(names) + 31) / 32}, nil
}

// newGROReader opens a socket in the calling thread's namespace; Close releases it.
func newGROReader(l groLayout) (*groReader, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("ethtool socket: %w", err)
	}
	return &groReader{fd: fd, groLayout: l}, nil
}

// groReader opens a GRO reader in the calling thread's namespace, reading the kernel's
// feature names through link the first time.
func (p *Probes) groReader(link string) (*groReader, error) {
	if p.gro == nil {
		l, err := readGROLayout(link)
		if err != nil {
			return nil, err
		}
		p.gro = &l
	}
	return newGROReader(*p.gro)
}

func (g *groReader) Close() {
	if g.fd >= 0 {
		unix.Close(g.fd)
	}
}

// on reports whether rx-gro is active on link.
func (g *groReader) on(link string) (bool, error) {
	// struct ethtool_gfeatures: cmd, size, then per block available, requested, active,
	// never_changed.
	buf := make([]uint32, 2+4*g.blocks)
	buf[0], buf[1] = ethtoolGFeatures, uint32(g.blocks)
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data uintptr
		_    [16]byte // the rest of struct ifreq's union
	}
	copy(ifr.name[:unix.IFNAMSIZ-1], link)
	ifr.data = uintptr(unsafe.Pointer(&buf[0]))
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(g.fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(buf)
	if errno != 0 {
		return false, fmt.Errorf("%s: ETHTOOL_GFEATURES: %w", link, errno)
	}
	active := buf[2+4*(g.bit/32)+2]
	return active&(1<<(g.bit%32)) != 0, nil
}
