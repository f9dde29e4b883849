package lab

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Settings of InjectSqueeze.
const (
	// SqueezeBudget is net.core.netdev_budget during InjectSqueeze: below the backlog's
	// weight (dev_weight, 64), so every softirq round that finds a GSO burst in the backlog
	// ends with its budget spent.
	SqueezeBudget = 16
	SqueezeGap    = time.Millisecond // between the GSO bursts
)

// InjectSqueeze holds the host's netdev_budget at SqueezeBudget and sends GSO bursts of
// GSOSegments datagrams from A, pinned to the first CPU this process may use
// (SqueezeCPU), to a reading sink on B. With tx-udp-segmentation off the segments go
// through A's veth into that CPU's backlog, where netdev_max_backlog (it must hold a burst)
// takes them all: the softirq stops early (time_squeeze) but nothing is dropped.
// netdev_budget is restored when the injector returns.
func InjectSqueeze(ctx context.Context, t testing.TB, v *Veth) (FloodResult, error) {
	Global(t)
	cpu, err := SqueezeCPU()
	if err != nil {
		return FloodResult{}, fmt.Errorf("inject squeeze: %w", err)
	}
	maxBacklog, err := readSysctl(nil, "net.core.netdev_max_backlog")
	if err != nil {
		return FloodResult{}, fmt.Errorf("inject squeeze: %w", err)
	}
	if n, err := strconv.Atoi(maxBacklog); err != nil || n < 2*GSOSegments {
		return FloodResult{}, fmt.Errorf("inject squeeze: netdev_max_backlog %s cannot hold two bursts", maxBacklog)
	}
	if err := setFeature(t, v.A, v.AName, "tx-udp-segmentation", false); err != nil {
		return FloodResult{}, fmt.Errorf("inject squeeze: %w", err)
	}
	sink, err := udpSink(t, v.B, v.BAddr+":0", SinkOpts{RcvBuf: bigRcvBuf, Read: true})
	if err != nil {
		return FloodResult{}, fmt.Errorf("inject squeeze: %w", err)
	}
	restore, err := holdSysctl(t, nil, "net.core.netdev_budget", strconv.Itoa(SqueezeBudget))
	if err != nil {
		return FloodResult{}, fmt.Errorf("inject squeeze: %w", err)
	}
	defer restore()
	return GSOFlood(ctx, v.A, sink.Addr(), cpu, SqueezeGap, HostLimitMax)
}

// SqueezeCPU is the CPU InjectSqueeze sends from, whose softnet_stat row counts the
// squeezes: the first one this process may use.
func SqueezeCPU() (int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return 0, fmt.Errorf("cpu affinity: %w", err)
	}
	for c := range len(set) * 64 {
		if set.IsSet(c) {
			return c, nil
		}
	}
	return 0, errors.New("no cpu allowed")
}
