package netdev

import (
	"bytes"
	"fmt"
	"unsafe"

	"github.com/safchain/ethtool"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/freelist"
	"github.com/nettune/nettune/model"
)

// statsKey says which string set a link's -S values belong to. The driver reports the
// count in its driver info; the names are asked for only when the count or link is new.
type statsKey struct {
	ifindex int // 0 for veth: its names are the same for every link with the same queues
	driver  string
	n       uint32
	rx, tx  uint32 // veth queue counts: 1 rx + 8 tx queues and 3 + 1 give the same count
}

// statsKeyOf returns the cache key of a link. veth_get_strings derives every name from the
// real queue counts, which ethtool -l reports (ch); other drivers' names can depend on the
// device's features, so their names are kept per link.
func statsKeyOf(ifindex int, driver string, n uint32, ch *model.Channels) statsKey {
	if driver == "veth" && ch != nil {
		return statsKey{driver: driver, n: n, rx: ch.Rx, tx: ch.Tx}
	}
	return statsKey{ifindex: ifindex, driver: driver, n: n}
}

// gstats and gstrings are struct ethtool_stats and ethtool_gstrings with room for the
// most entries safchain/ethtool accepts. The kernel copies as many entries as the driver
// has now, whatever count the caller passed, so the buffers are sized for the largest count
// nettune reads (read refuses a larger one), not for the count of this link.
type gstats struct {
	cmd, n uint32
	data   [ethtool.MAX_GSTRINGS]uint64
}

type gstrings struct {
	cmd, set, n uint32
	data        [ethtool.MAX_GSTRINGS * ethtool.ETH_GSTRING_LEN]byte
}

// statBufs and strBufs hold those buffers (256 KiB and 1 MiB) between ioctls, shared by
// every connection: a node sampler keeps one connection in each of hundreds of namespaces
// but reads on a few threads at a time.
var (
	statBufs freelist.List[gstats]
	strBufs  freelist.List[gstrings]
)

// ifreqData is struct ifreq with ifr_data: a real pointer, so that the buffer it points
// to stays alive and in place for the ioctl.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte // the rest of the ifreq union
}

// drvinfo is struct ethtool_drvinfo (include/uapi/linux/ethtool.h).
type drvinfo struct {
	cmd                                                    uint32
	driver, version, fwVersion, busInfo, eromVersion       [32]byte
	reserved2                                              [12]byte
	nPrivFlags, nStats, testinfoLen, eedumpLen, regdumpLen uint32
}

// ioctlEthtool is Ethtool on the running kernel. It reads -S with one ETHTOOL_GSTATS ioctl
// per link (the library reads driver info, names and values each time: three ioctls, and a
// map of new strings), and driver info and channels into buffers of its own: the library
// allocates the six strings of the driver info per call, and hands the kernel stack
// addresses (see readEthtool). Rings are read through the library.
type ioctlEthtool struct {
	lib     *ethtool.Ethtool
	fd      int
	values  []uint64 // the last Stats answer
	info    *drvinfo
	ch      *ethtool.Channels // the library's type is struct ethtool_channels
	drivers interner          // driver names: a thousand veths share one string
}

// OpenEthtool opens the ethtool sockets in the calling thread's network namespace.
func OpenEthtool() (Ethtool, error) {
	lib, err := ethtool.NewEthtool()
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		lib.Close()
		return nil, err
	}
	return &ioctlEthtool{lib: lib, fd: fd, info: new(drvinfo),
		ch: new(ethtool.Channels), drivers: interner{}}, nil
}

// DriverInfo reads the driver name and statistics count of intf; the other fields of the
// result stay empty.
func (c *ioctlEthtool) DriverInfo(intf string) (ethtool.DrvInfo, error) {
	*c.info = drvinfo{cmd: unix.ETHTOOL_GDRVINFO}
	if err := c.ioctl(intf, unsafe.Pointer(c.info)); err != nil {
		return ethtool.DrvInfo{}, err
	}
	return c.info.decode(c.drivers), nil
}

// decode returns the driver name, interned, and the statistics count of a driver info answer.
func (d *drvinfo) decode(drivers interner) ethtool.DrvInfo {
	// The kernel NUL-terminates the 32-byte field (strscpy); an answer without the NUL is
	// cut to 31 bytes, as the kernel's own copy would be.
	return ethtool.DrvInfo{Driver: drivers.cString(d.driver[:len(d.driver)-1]), NStats: d.nStats}
}

func (c *ioctlEthtool) Ring(intf string) (ethtool.Ring, error) { return c.lib.GetRing(intf) }

// Channels reads ethtool -l of intf.
func (c *ioctlEthtool) Channels(intf string) (ethtool.Channels, error) {
	*c.ch = ethtool.Channels{Cmd: unix.ETHTOOL_GCHANNELS}
	if err := c.ioctl(intf, unsafe.Pointer(c.ch)); err != nil {
		return ethtool.Channels{}, err
	}
	return *c.ch, nil
}

func (c *ioctlEthtool) Close() {
	unix.Close(c.fd)
	c.lib.Close()
}

// Stats reads the n -S values of intf into a buffer reused by the next call.
func (c *ioctlEthtool) Stats(intf string, n uint32) ([]uint64, error) {
	if n > ethtool.MAX_GSTRINGS {
		return nil, fmt.Errorf("%d statistics: more than %d", n, ethtool.MAX_GSTRINGS)
	}
	g := statBufs.Get()
	defer statBufs.Put(g)
	g.cmd, g.n = unix.ETHTOOL_GSTATS, n
	if err := c.ioctl(intf, unsafe.Pointer(g)); err != nil {
		return nil, err
	}
	if g.n != n {
		return nil, fmt.Errorf("%w: statistics count changed from %d to %d while reading", ErrUnavailable, n, g.n)
	}
	c.values = append(c.values[:0], g.data[:n]...)
	return c.values, nil
}

// StatNames reads the names of the n statistics of intf.
func (c *ioctlEthtool) StatNames(intf string, n uint32) ([]string, error) {
	if n > ethtool.MAX_GSTRINGS {
		return nil, fmt.Errorf("%d statistics: more than %d", n, ethtool.MAX_GSTRINGS)
	}
	g := strBufs.Get()
	defer strBufs.Put(g)
	g.cmd, g.set, g.n = unix.ETHTOOL_GSTRINGS, ethtool.ETH_SS_STATS, n
	if err := c.ioctl(intf, unsafe.Pointer(g)); err != nil {
		return nil, err
	}
	if g.n != n {
		return nil, fmt.Errorf("%w: statistics count changed from %d to %d while reading", ErrUnavailable, n, g.n)
	}
	return stringSet(g.data[:], n), nil
}

// stringSet decodes the first n names of an ETHTOOL_GSTRINGS answer: ETH_GSTRING_LEN bytes
// each, NUL-padded, or not NUL-terminated at all when a name fills its slot.
func stringSet(data []byte, n uint32) []string {
	names := make([]string, n)
	for i := range names {
		b := data[i*ethtool.ETH_GSTRING_LEN : (i+1)*ethtool.ETH_GSTRING_LEN]
		if end := bytes.IndexByte(b, 0); end >= 0 {
			b = b[:end]
		}
		names[i] = string(b)
	}
	return names
}

func (c *ioctlEthtool) ioctl(intf string, data unsafe.Pointer) error {
	if len(intf) >= unix.IFNAMSIZ {
		return fmt.Errorf("interface name %q too long", intf)
	}
	ifr := &ifreqData{data: data}
	copy(ifr.name[:], intf)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(c.fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(ifr)))
	if errno != 0 {
		return errno
	}
	return nil
}
