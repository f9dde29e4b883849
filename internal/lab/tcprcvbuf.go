package lab

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/nettune/nettune/internal/netns"
)

// Settings of InjectTCPRcvbuf.
const (
	TCPRcvbufPort  = 9600 // B's receiver
	TCPRcvbufConns = 4
	TCPRcvBuf      = 4096 // SO_RCVBUF of B's connections, set after accept (the kernel doubles it)
)

// InjectTCPRcvbuf: TCPRcvbufConns connections from A to a receiver on B that, once it has
// accepted them, shrinks their receive buffers to SO_RCVBUF TCPRcvBuf and never reads. The
// window each advertised in its handshake (from the default buffer) cannot shrink, so A keeps
// sending into it what B no longer has room for: B drops at its receive queue, and the
// out-of-order segments behind a drop at its out-of-order queue. A's TCP segmentation
// offload is off, so every segment is one packet and one drop. A writes 64 KiB chunks until
// ctx ends (at most InjectMax).
func InjectTCPRcvbuf(ctx context.Context, t testing.TB, v *Veth) (FloodResult, error) {
	if err := setFeature(t, v.A, v.AName, "tx-tcp-segmentation", false); err != nil {
		return FloodResult{}, fmt.Errorf("inject tcp rcvbuf: %w", err)
	}
	addr := fmt.Sprintf("%s:%d", v.BAddr, TCPRcvbufPort)
	var ln net.Listener
	err := netns.Do(v.B.name(), func() (err error) {
		ln, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		return FloodResult{}, fmt.Errorf("inject tcp rcvbuf: listen %s: %w", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	conns, err := dialTCP(t, v.A, addr, TCPRcvbufConns)
	if err != nil {
		return FloodResult{}, fmt.Errorf("inject tcp rcvbuf: %w", err)
	}
	for range conns { // connected: every one waits in the accept queue
		c, err := ln.Accept()
		if err != nil {
			return FloodResult{}, fmt.Errorf("inject tcp rcvbuf: accept: %w", err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.(*net.TCPConn).SetReadBuffer(TCPRcvBuf); err != nil {
			return FloodResult{}, fmt.Errorf("inject tcp rcvbuf: SO_RCVBUF: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, InjectMax)
	defer cancel()
	return writeAll(ctx, conns), nil
}
