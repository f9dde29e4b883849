package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/netns"
)

// Listener is a TCP listening socket in a test namespace with an exact listen() backlog.
type Listener struct {
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
}

// TCPListen listens on addr ("ip:port", port 0 = any) inside ns with the given backlog (the
// kernel uses min(backlog, net.core.somaxconn of ns)). With accept false nothing is ever
// accepted, so the accept queue fills after backlog+1 connections and further handshakes are
// dropped (TcpExt.ListenOverflows). Closed at cleanup.
func TCPListen(t testing.TB, ns *NS, addr string, backlog int, accept bool) *Listener {
	t.Helper()
	l, err := tcpListen(t, ns, addr, backlog, accept)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func tcpListen(t testing.TB, ns *NS, addr string, backlog int, accept bool) (*Listener, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("tcp listen: bad ipv4 address %q", addr)
	}
	var fd int
	err = netns.Do(ns.name(), func() error {
		// net.Listen always passes somaxconn as the backlog; the syscalls let us pick it.
		var err error
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return err
		}
		if err := unix.Bind(fd, sockaddr(ap)); err != nil {
			return err
		}
		return unix.Listen(fd, backlog)
	})
	if err != nil {
		if fd > 0 {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("tcp listen %s in %s: %w", addr, ns.name(), err)
	}
	f := os.NewFile(uintptr(fd), "listener")
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("tcp listen %s: %w", addr, err)
	}
	l := &Listener{ln: ln}
	if accept {
		l.wg.Go(l.acceptLoop)
	}
	t.Cleanup(func() {
		ln.Close()
		l.wg.Wait()
	})
	return l, nil
}

func (l *Listener) acceptLoop() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		l.accepted.Add(1)
		c.Close()
	}
}

// Addr is the bound address ("ip:port") to connect to.
func (l *Listener) Addr() string { return l.ln.Addr().String() }

// Accepted is the number of connections accepted so far.
func (l *Listener) Accepted() int { return int(l.accepted.Load()) }

// TCPConnectStorm opens conns TCP connections from namespace from to dst ("ip:port") at once
// and waits up to timeout (or until ctx ends) for their handshakes. ok counts handshakes that
// completed, failed the rest. Every socket is then closed with an RST (SO_LINGER 0), so the
// sender keeps no TIME_WAIT state.
func TCPConnectStorm(ctx context.Context, from *NS, dst string, conns int, timeout time.Duration) (ok, failed int) {
	ap, err := netip.ParseAddrPort(dst)
	if err != nil || !ap.Addr().Is4() || conns <= 0 {
		return 0, conns
	}
	var fds []int
	defer func() {
		for _, fd := range fds {
			_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
			unix.Close(fd)
		}
	}()
	// Sockets belong to the namespace they were created in; connect() may run anywhere.
	err = netns.Do(from.name(), func() error {
		for range conns {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			fds = append(fds, fd)
		}
		return nil
	})
	if err != nil {
		return 0, conns
	}
	var pending []unix.PollFd
	for _, fd := range fds {
		switch err := unix.Connect(fd, sockaddr(ap)); {
		case err == nil:
			ok++
		case errors.Is(err, unix.EINPROGRESS):
			pending = append(pending, unix.PollFd{Fd: int32(fd), Events: unix.POLLOUT})
		}
	}
	deadline := time.Now().Add(timeout)
	for len(pending) > 0 && ctx.Err() == nil {
		wait := time.Until(deadline)
		if wait <= 0 {
			break
		}
		// Short polls so a cancelled ctx is noticed quickly.
		n, err := unix.Poll(pending, int(min(wait, 50*time.Millisecond)/time.Millisecond)+1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			break
		}
		if n <= 0 {
			continue
		}
		rest := pending[:0]
		for _, p := range pending {
			if p.Revents == 0 {
				rest = append(rest, p)
				continue
			}
			if e, err := unix.GetsockoptInt(int(p.Fd), unix.SOL_SOCKET, unix.SO_ERROR); err == nil && e == 0 {
				ok++
			}
		}
		pending = rest
	}
	return ok, conns - ok
}

func sockaddr(ap netip.AddrPort) *unix.SockaddrInet4 {
	return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
}

// WaitListening waits until process pid's namespace has a TCP listener on port (IPv4 or
// IPv6), e.g. a server started in a container.
func WaitListening(t testing.TB, pid, port int) {
	t.Helper()
	v4 := fmt.Sprintf(":%04X 00000000:0000 0A", port)
	v6 := fmt.Sprintf(":%04X 00000000000000000000000000000000:0000 0A", port)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b4, _ := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", pid))
		b6, _ := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp6", pid))
		if bytes.Contains(b4, []byte(v4)) || bytes.Contains(b6, []byte(v6)) {
			return
		}
	}
	t.Fatalf("pid %d never listened on tcp port %d", pid, port)
}
