package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/safchain/ethtool"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/netns"
)

// A GSO burst: one UDP_SEGMENT send of GSOSegments × GSOSize bytes. With tx-udp-segmentation
// off on the sending veth the kernel splits it in software and hands the segments to the
// veth one after another with bottom halves off, so all of them reach the receiving
// backlog before any is processed: a burst that a low netdev_max_backlog refuses whatever
// the receiving CPU's wake-up latency. (Paced sendmmsg bursts depend on it: on this VM they
// overflowed a 16-packet backlog on 0.2–2 % of datagrams, some runs on almost none.)
const (
	GSOSize     = 1000
	GSOSegments = 64
)

// GSOFlood sends GSO bursts from namespace from to dst ("ip:port") on a thread pinned to
// cpu, one every gap, until ctx ends or d passes; Sent counts segments.
func GSOFlood(ctx context.Context, from *NS, dst string, cpu int, gap, d time.Duration) (FloodResult, error) {
	ap, err := netip.ParseAddrPort(dst)
	if err != nil {
		return FloodResult{}, fmt.Errorf("gso flood: %w", err)
	}
	var fd int
	err = netns.Do(from.name(), func() error {
		var err error
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		return unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT, GSOSize)
	})
	if err != nil {
		return FloodResult{}, fmt.Errorf("gso flood socket: %w", err)
	}
	defer unix.Close(fd)
	type result struct {
		r   FloodResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the runtime retires the thread with its changed affinity.
		runtime.LockOSThread()
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			done <- result{err: fmt.Errorf("gso flood: pin to cpu %d: %w", cpu, err)}
			return
		}
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		buf := make([]byte, GSOSize*GSOSegments)
		to := &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
		var r FloodResult
		start := time.Now()
		for ctx.Err() == nil {
			if unix.Sendto(fd, buf, 0, to) == nil {
				r.Sent += GSOSegments
			} else {
				r.Errors++
			}
			time.Sleep(gap)
		}
		r.Elapsed = time.Since(start)
		done <- result{r: r}
	}()
	res := <-done
	return res.r, res.err
}

// SetFeature switches an ethtool feature (ethtool -K name) of link in ns and restores the
// value it had when the test ends.
func SetFeature(t testing.TB, ns *NS, link, feature string, on bool) {
	t.Helper()
	if err := setFeature(t, ns, link, feature, on); err != nil {
		t.Fatal(err)
	}
}

func setFeature(t testing.TB, ns *NS, link, feature string, on bool) error {
	var was bool
	change := func(v bool) error {
		return netns.Do(ns.name(), func() error {
			e, err := ethtool.NewEthtool()
			if err != nil {
				return err
			}
			defer e.Close()
			fs, err := e.Features(link)
			if err != nil {
				return err
			}
			was = fs[feature]
			return e.Change(link, map[string]bool{feature: v})
		})
	}
	if err := change(on); err != nil {
		return fmt.Errorf("%s %s=%v: %w", link, feature, on, err)
	}
	old := was
	t.Cleanup(func() {
		if err := change(old); err != nil && !errors.Is(err, netns.ErrNotFound) {
			t.Errorf("restore %s %s: %v", link, feature, err)
		}
	})
	return nil
}
