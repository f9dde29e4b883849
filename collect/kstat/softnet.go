package kstat

import (
	"fmt"

	"github.com/prometheus/procfs"

	"github.com/nettune/nettune/model"
)

// ReadSoftnet reads softnet_stat, one row per online CPU. procfs handles the 11-, 13- and
// 15-column layouts; CPU is the kernel's CPU column when printed (13+ columns), else the
// row index. The file is host-wide even inside a child network namespace.
func ReadSoftnet(procRoot string) ([]model.SoftnetCPU, error) {
	fs, err := procfs.NewFS(netRoot(procRoot))
	if err != nil {
		return nil, fmt.Errorf("softnet_stat: %w", err)
	}
	rows, err := fs.NetSoftnetStat()
	if err != nil {
		return nil, fmt.Errorf("softnet_stat: %w", err)
	}
	out := make([]model.SoftnetCPU, len(rows))
	for i, r := range rows {
		out[i] = model.SoftnetCPU{
			CPU:            int(r.Index),
			Processed:      r.Processed,
			Dropped:        r.Dropped,
			TimeSqueeze:    r.TimeSqueezed,
			ReceivedRPS:    r.ReceivedRps,
			FlowLimitCount: r.FlowLimitCount,
			BacklogLen:     r.SoftnetBacklogLen,
		}
	}
	return out, nil
}
