package kstat

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Parsed by hand rather than with procfs's FS.NetStat: that reads every file under
// <root>/net/stat (arp_cache, rt_cache, ...) of the process's namespace, not the calling
// thread's, has no io.Reader entry point, and indexes the header without a bounds check (a
// row longer than the header panics).

// conntrackGauge is the column that is not a counter: ct_cpu_seq_show prints the namespace's
// entry count (nf_conntrack_count) on every CPU's row, so summing it would multiply it by the
// number of possible CPUs. The same value is the net.netfilter.nf_conntrack_count sysctl.
const conntrackGauge = "entries"

// ReadConntrack reads <proc>/thread-self/net/stat/nf_conntrack of the calling thread's network
// namespace and returns each counter summed over the per-CPU rows, keyed by the kernel's column
// name ("drop", "early_drop", "insert_failed", ...). It returns nil, nil when the file does not
// exist: the kernel has no conntrack (or CONFIG_NF_CONNTRACK_PROCFS is off).
func ReadConntrack(procRoot string) (map[string]uint64, error) {
	path := filepath.Join(netRoot(procRoot), "net", "stat", "nf_conntrack")
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := ParseConntrack(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// ParseConntrack parses /proc/net/stat/nf_conntrack: a header of column names, then one row of
// %08x values per possible CPU. Columns are matched by name because kernels differ (4.x
// prints searched and delete_list, 6.x clashres and chainlength). Counters are 32-bit per CPU;
// the sums are not reduced, so a per-CPU wrap shows as a sum that went backwards
// (sample.Diff handles it).
func ParseConntrack(r io.Reader) (map[string]uint64, error) {
	m, _, err := parseConntrack(r)
	return m, err
}

// parseConntrack is ParseConntrack, with the entry count (the gauge column) as well.
func parseConntrack(r io.Reader) (m map[string]uint64, entries uint64, err error) {
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, 0, err
		}
		return nil, 0, errors.New("empty file")
	}
	names := strings.Fields(sc.Text())
	if len(names) == 0 || names[0] != conntrackGauge {
		return nil, 0, fmt.Errorf("unexpected header %q", sc.Text())
	}
	m = make(map[string]uint64, len(names)-1)
	for _, n := range names[1:] {
		m[n] = 0
	}
	for row := 1; sc.Scan(); row++ {
		vals := strings.Fields(sc.Text())
		if len(vals) == 0 {
			continue
		}
		if len(vals) != len(names) {
			return nil, 0, fmt.Errorf("row %d: %d values for %d columns", row, len(vals), len(names))
		}
		for i, n := range names {
			v, err := strconv.ParseUint(vals[i], 16, 32)
			if err != nil {
				return nil, 0, fmt.Errorf("row %d %s: %w", row, n, err)
			}
			if n != conntrackGauge {
				m[n] += v
			} else {
				entries = v
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, 0, err
	}
	return m, entries, nil
}
