package kstat

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/model"
)

// NetDir is <sys>/class/net held open, so that per-link reads resolve only the link's part
// of a path: at 1 000 links the shared prefix was about 15 % of each sysfs read. Virtual
// devices (veth, bridges, lo) are read from <sys>/devices/virtual/net, also held open: their
// class/net entry is a symlink to it, and following it was about a quarter of each read.
// Both directories list only the devices of the namespace the sysfs was mounted in.
type NetDir struct {
	class, virt         int // virt is -1 when this sysfs has no devices/virtual/net
	classPath, virtPath string
}

// OpenNetDir opens <sysRoot>/class/net (and devices/virtual/net, when present).
func OpenNetDir(sysRoot string) (*NetDir, error) {
	d := &NetDir{classPath: filepath.Join(sysRoot, "class", "net"), virtPath: filepath.Join(sysRoot, "devices", "virtual", "net")}
	var err error
	if d.class, err = unix.Open(d.classPath, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		return nil, &fs.PathError{Op: "open", Path: d.classPath, Err: err}
	}
	if d.virt, err = unix.Open(d.virtPath, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		d.virt = -1
	}
	return d, nil
}

func (d *NetDir) Close() error {
	if d.virt >= 0 {
		unix.Close(d.virt)
	}
	return unix.Close(d.class)
}

// RPS reads rps_cpus and rps_flow_cnt of every receive queue of a link from
// <link>/queues/rx-<n>/, sorted by queue. Each is a one-value sysfs file, so there is no
// separate parser. queues is the link's allocated RX queue count when the caller knows it
// (netlink's IFLA_NUM_RX_QUEUES): then no directory is listed, which matters at 1 000 links;
// sysfs shows only the real (active) queues, fewer on veth, which allocates one per possible
// CPU, so the first missing rx-N ends the list. flows false skips rps_flow_cnt (it only
// matters when RFS is on: net.core.rps_sock_flow_entries > 0), halving the sysfs reads. A
// link without a queues directory (not visible in this sysfs) gives nil, nil.
func (d *NetDir) RPS(link string, queues int, flows bool) ([]model.RxQueue, error) {
	var idx []int
	if queues > 0 {
		idx = make([]int, queues)
		for i := range idx {
			idx[i] = i
		}
	} else {
		var err error
		if idx, err = listRxQueues(filepath.Join(d.classPath, link, "queues")); err != nil || idx == nil {
			return nil, err
		}
	}
	// A virtual device first: a device that is not one is not in that directory.
	fd, dir := d.virt, d.virtPath
	if fd < 0 {
		fd, dir = d.class, d.classPath
	}
	var out []model.RxQueue
	for i, q := range idx {
		qdir := link + "/queues/rx-" + strconv.Itoa(q) + "/"
		cpus, err := readValueAt(fd, dir, qdir+"rps_cpus")
		if i == 0 && fd == d.virt && errors.Is(err, fs.ErrNotExist) {
			fd, dir = d.class, d.classPath
			cpus, err = readValueAt(fd, dir, qdir+"rps_cpus")
		}
		if errors.Is(err, fs.ErrNotExist) {
			break // past the real queues (or, for rx-0, a link this sysfs does not show)
		}
		if err != nil {
			return nil, fmt.Errorf("rps %s: %w", link, err)
		}
		rq := model.RxQueue{Queue: q, RPSCPUs: cpus}
		if flows {
			cnt, err := readValueAt(fd, dir, qdir+"rps_flow_cnt")
			if err != nil {
				return nil, fmt.Errorf("rps %s: %w", link, err)
			}
			n, err := strconv.ParseUint(cnt, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("rps %s rx-%d rps_flow_cnt: %w", link, q, err)
			}
			rq.RPSFlowCnt = uint32(n)
		}
		out = append(out, rq)
	}
	return out, nil
}

// listRxQueues returns the rx-<n> queue numbers under dir, sorted; nil when dir is absent.
func listRxQueues(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rps: %w", err)
	}
	var idx []int
	for _, e := range ents {
		n, ok := strings.CutPrefix(e.Name(), "rx-")
		if !ok {
			continue
		}
		q, err := strconv.Atoi(n)
		if err != nil {
			return nil, fmt.Errorf("rps: queue %q: %w", e.Name(), err)
		}
		idx = append(idx, q)
	}
	slices.Sort(idx)
	return idx, nil
}
