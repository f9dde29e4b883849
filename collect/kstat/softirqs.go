package kstat

import (
	"errors"
	"fmt"

	"github.com/prometheus/procfs"
)

// ReadSoftirqs returns the NET_RX softirq count of each CPU (index = CPU) from
// <proc>/softirqs.
func ReadSoftirqs(procRoot string) (netRx []uint64, err error) {
	fs, err := procfs.NewFS(procRoot)
	if err != nil {
		return nil, fmt.Errorf("softirqs: %w", err)
	}
	s, err := fs.Softirqs()
	if err != nil {
		return nil, fmt.Errorf("softirqs: %w", err)
	}
	if s.NetRx == nil {
		return nil, errors.New("softirqs: no NET_RX row")
	}
	return s.NetRx, nil
}
