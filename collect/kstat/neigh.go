package kstat

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/nldump"
	"github.com/nettune/nettune/model"
)

// neighTables are the stat files of the neighbour tables nettune reads, with the address
// family of their entries.
var neighTables = []struct {
	name   string
	family uint8
}{{"arp_cache", unix.AF_INET}, {"ndisc_cache", unix.AF_INET6}}

// neighGauge is the stat file's column that is not a counter: the table's entry count,
// printed on every CPU's row.
const neighGauge = "entries"

// ReadNeighTables reads <proc>/thread-self/net/stat/arp_cache and ndisc_cache. The kernel
// creates these files in the host namespace only (the tables are shared by every namespace),
// so call it from a thread there: in a child namespace it finds neither and returns nil.
// A table whose file is missing (IPv6 disabled) is left out.
func ReadNeighTables(procRoot string) ([]model.NeighTable, error) {
	dir := filepath.Join(netRoot(procRoot), "net", "stat")
	var out []model.NeighTable
	for _, t := range neighTables {
		var nt model.NeighTable
		err := parseFile(filepath.Join(dir, t.name), func(r io.Reader) (err error) {
			nt.Entries, nt.Counters, err = ParseNeighStat(r)
			return err
		})
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		nt.Name = t.name
		out = append(out, nt)
	}
	return out, nil
}

// ParseNeighStat parses /proc/net/stat/arp_cache or ndisc_cache: a header of column names,
// then one row of hex values per possible CPU (neigh_stat_seq_show). Columns are matched by
// name; every one but entries is a per-CPU counter and is summed. entries, the table's size
// over every namespace, is the same on each row: the first row's is returned.
func ParseNeighStat(r io.Reader) (entries uint64, counters map[string]uint64, err error) {
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return 0, nil, err
		}
		return 0, nil, errors.New("empty file")
	}
	names := strings.Fields(sc.Text())
	if len(names) == 0 || names[0] != neighGauge {
		return 0, nil, fmt.Errorf("unexpected header %q", sc.Text())
	}
	counters = make(map[string]uint64, len(names)-1)
	for _, n := range names[1:] {
		counters[n] = 0
	}
	rows := 0
	for sc.Scan() {
		vals := strings.Fields(sc.Text())
		if len(vals) == 0 {
			continue
		}
		rows++
		if len(vals) != len(names) {
			return 0, nil, fmt.Errorf("row %d: %d values for %d columns", rows, len(vals), len(names))
		}
		for i, n := range names {
			v, err := strconv.ParseUint(vals[i], 16, 64)
			if err != nil {
				return 0, nil, fmt.Errorf("row %d %s: %w", rows, n, err)
			}
			switch {
			case i > 0:
				counters[n] += v
			case rows == 1:
				entries = v
			}
		}
	}
	if err := sc.Err(); err != nil {
		return 0, nil, err
	}
	if rows == 0 {
		return 0, nil, errors.New("no rows")
	}
	return entries, counters, nil
}

// ndmsgLen is sizeof(struct ndmsg): family, two pad bytes, ifindex, state, flags, type.
const ndmsgLen = 12

// CountNeighbours counts the neighbour entries of family (unix.AF_INET or AF_INET6) in the
// namespace the netlink socket was opened in, by state, from an RTM_GETNEIGH dump.
func CountNeighbours(d nldump.Dumper, family uint8) (model.NeighCount, error) {
	var n model.NeighCount
	req := make([]byte, ndmsgLen)
	req[0] = family
	_, err := d.Dump(unix.RTM_GETNEIGH, req, func(b []byte) error {
		state, err := parseNdmsgState(b)
		if err != nil {
			return err
		}
		n.Total++
		switch {
		case state&unix.NUD_PERMANENT != 0:
			n.Permanent++
		case state&(unix.NUD_INCOMPLETE|unix.NUD_FAILED) != 0:
			n.Unresolved++
		}
		return nil
	})
	if err != nil {
		return model.NeighCount{}, fmt.Errorf("rtm_getneigh family %d: %w", family, err)
	}
	return n, nil
}

// parseNdmsgState returns ndm_state of one RTM_NEWNEIGH answer.
func parseNdmsgState(b []byte) (uint16, error) {
	if len(b) < ndmsgLen {
		return 0, fmt.Errorf("ndmsg of %d bytes, want %d", len(b), ndmsgLen)
	}
	return binary.NativeEndian.Uint16(b[8:]), nil
}
