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

	"github.com/nettune/nettune/tuner/sample"
)

// ReadRPS reads rps_cpus and rps_flow_cnt of every receive queue of a link from
// <sys>/class/net/<link>/queues/rx-<n>/, sorted by queue. Each is a one-value sysfs file, so
// there is no separate parser. A link without a queues directory (not visible in this
// sysfs) gives nil, nil.
func ReadRPS(sysRoot, link string) ([]sample.RxQueue, error) {
	dir := filepath.Join(sysRoot, "class", "net", link, "queues")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rps %s: %w", link, err)
	}
	var out []sample.RxQueue
	for _, e := range ents {
		n, ok := strings.CutPrefix(e.Name(), "rx-")
		if !ok {
			continue
		}
		q, err := strconv.Atoi(n)
		if err != nil {
			return nil, fmt.Errorf("rps %s: queue %q: %w", link, e.Name(), err)
		}
		cpus, err := os.ReadFile(filepath.Join(dir, e.Name(), "rps_cpus"))
		if err != nil {
			return nil, fmt.Errorf("rps %s: %w", link, err)
		}
		cnt, err := os.ReadFile(filepath.Join(dir, e.Name(), "rps_flow_cnt"))
		if err != nil {
			return nil, fmt.Errorf("rps %s: %w", link, err)
		}
		flows, err := strconv.ParseUint(strings.TrimSpace(string(cnt)), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("rps %s rx-%d rps_flow_cnt: %w", link, q, err)
		}
		out = append(out, sample.RxQueue{Queue: q, RPSCPUs: strings.TrimSpace(string(cpus)), RPSFlowCnt: uint32(flows)})
	}
	slices.SortFunc(out, func(a, b sample.RxQueue) int { return a.Queue - b.Queue })
	return out, nil
}
