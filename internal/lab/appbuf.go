package lab

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"

	"github.com/nettune/nettune/internal/netns"
)

// Settings of InjectAppRcvbuf: an application's SO_RCVBUF request that the kernel doubles to
// exactly the host's rmem_default, so the two sinks' buffers are equal.
const (
	AppRcvBuf       = 8192
	AppRmemDefault  = 2 * AppRcvBuf // net.core.rmem_default while the sinks are created
	AppRcvbufPort   = 9500          // B's sink that set SO_RCVBUF
	PlainRcvbufPort = 9501          // B's sink that did not
)

// InjectAppRcvbuf creates two never-read UDP sinks on B while the host's rmem_default is
// AppRmemDefault: one calls SO_RCVBUF AppRcvBuf (granted doubled), the other sets nothing
// and gets rmem_default. Both end with the same sk_rcvbuf and both overflow under the flood
// from A; only the first has SOCK_RCVBUF_LOCK, so only its application can change its
// buffer — a new rmem_default reaches the other one, after a restart. rmem_default is
// restored as soon as the sinks exist (it applies at socket creation).
func InjectAppRcvbuf(ctx context.Context, t testing.TB, v *Veth) (FloodResult, error) {
	Global(t)
	restore, err := holdSysctl(t, nil, "net.core.rmem_default", strconv.Itoa(AppRmemDefault))
	if err != nil {
		return FloodResult{}, fmt.Errorf("inject app rcvbuf: %w", err)
	}
	var app, plain *net.UDPConn
	err = netns.Do(v.B.name(), func() (err error) {
		if app, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(v.BAddr), Port: AppRcvbufPort}); err != nil {
			return err
		}
		if err := app.SetReadBuffer(AppRcvBuf); err != nil { // SO_RCVBUF, as an application does
			return err
		}
		plain, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(v.BAddr), Port: PlainRcvbufPort})
		return err
	})
	restore()
	for _, c := range []*net.UDPConn{app, plain} {
		if c != nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	if err != nil {
		return FloodResult{}, fmt.Errorf("inject app rcvbuf: sinks: %w", err)
	}
	return sprayUDP(ctx, v.A, []string{app.LocalAddr().String(), plain.LocalAddr().String()}, 256, 0)
}
