package pipeline_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/internal/ctrtest"
	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/model/stage"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
	"github.com/nettune/nettune/render"
)

// holdEnv makes the test binary a process that holds sockets (holdSockets) instead of
// running tests: the lab test starts it inside a namespace with ip netns exec, so the
// sockets belong to a process of their own that the report must name.
const holdEnv = "NETTUNE_TEST_HOLD_SOCKETS"

func TestMain(m *testing.M) {
	if spec := os.Getenv(holdEnv); spec != "" {
		if err := holdSockets(spec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Sockets of the holder: a UDP socket with a 4 KiB receive buffer that is never read, a TCP
// listener with a backlog of 1 that never accepts, and a listener whose connections, once
// accepted, get a 4 KiB receive buffer and are never read.
const (
	holdRcvBuf  = 4096
	holdBacklog = 1
	holdConns   = 2
)

// holdSockets binds "UDPADDR TCPADDR CONNADDR", says "ready", says "accepted" for each
// connection to CONNADDR once its buffer is set, and holds them until stdin closes.
func holdSockets(spec string) error {
	addrs := strings.Fields(spec)
	if len(addrs) != 3 {
		return fmt.Errorf("socket holder: %q: want 3 addresses", spec)
	}
	udpAddr, tcpAddr, connAddr := addrs[0], addrs[1], addrs[2]
	u, err := socket(unix.SOCK_DGRAM, udpAddr)
	if err != nil {
		return err
	}
	if err := unix.SetsockoptInt(u, unix.SOL_SOCKET, unix.SO_RCVBUF, holdRcvBuf); err != nil {
		return err
	}
	l, err := socket(unix.SOCK_STREAM, tcpAddr)
	if err != nil {
		return err
	}
	if err := unix.Listen(l, holdBacklog); err != nil {
		return err
	}
	c, err := socket(unix.SOCK_STREAM, connAddr)
	if err != nil {
		return err
	}
	if err := unix.Listen(c, holdConns); err != nil {
		return err
	}
	go func() {
		for {
			fd, _, err := unix.Accept4(c, unix.SOCK_CLOEXEC)
			if err != nil {
				return
			}
			// after the handshake: the window it advertised cannot shrink, so the sender
			// overruns the smaller buffer
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, holdRcvBuf); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
			fmt.Println("accepted")
		}
	}()
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the test closes stdin
	return nil
}

func socket(typ int, addr string) (int, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}); err != nil {
		return -1, fmt.Errorf("bind %s: %w", addr, err)
	}
	return fd, nil
}

// holder starts the socket holder in ns and returns its process once its sockets are bound,
// and its output.
func holder(t *testing.T, ns *lab.NS, udpAddr, tcpAddr, connAddr string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), holdEnv+"="+udpAddr+" "+tcpAddr+" "+connAddr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// Started from a thread inside ns, the process is born there (no ip netns exec: the
	// kernel matrix's guests have busybox's ip, which has no netns).
	ns.Do(t, cmd.Start)
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	said := bufio.NewReader(out)
	if line, err := said.ReadString('\n'); line != "ready\n" {
		t.Fatalf("socket holder: %q %v: %s", line, err, stderr.String())
	}
	return cmd, said
}

// Issue 13 item 4, in the lab: a process inside a namespace holds a UDP socket that
// overflows, a listener whose accept queue overflows and connections whose receive buffer it
// shrank; one interval over the node names the sockets with their drops, buffer and backlog
// (the connections with their peers), and the process (pid, comm) holding them, in the
// findings and in the verdict line.
func TestNodeNamesTheLossySockets(t *testing.T) {
	lab.RequireRoot(t)
	a, b := lab.NewNS(t, "nsa"), lab.NewNS(t, "nsb")
	v := lab.NewVeth(t, a, b, lab.VethOpts{})
	udpAddr, tcpAddr, connAddr := v.BAddr+":9053", v.BAddr+":9080", v.BAddr+":9081"
	proc, said := holder(t, b, udpAddr, tcpAddr, connAddr)
	pid := proc.Process.Pid
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	a.Do(t, func() error {
		for range holdConns {
			c, err := net.Dial("tcp4", connAddr)
			if err != nil {
				return err
			}
			conns = append(conns, c)
			if line, err := said.ReadString('\n'); line != "accepted\n" {
				return fmt.Errorf("socket holder: %q %v", line, err)
			}
		}
		return nil
	})
	comm := filepath.Base(os.Args[0])[:min(len(filepath.Base(os.Args[0])), 15)] // TASK_COMM_LEN

	n := openNode(t)
	first, err := n.Sample()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	var flood lab.FloodResult
	var floodErr error
	wg.Add(2 + len(conns))
	go func() {
		defer wg.Done()
		flood, floodErr = lab.UDPFlood(ctx, v.A, udpAddr, lab.FloodOpts{Flows: 4, Size: 256})
	}()
	for _, c := range conns {
		go func() {
			defer wg.Done()
			_ = c.SetWriteDeadline(time.Now().Add(1500 * time.Millisecond)) // the window closes
			buf := make([]byte, 64<<10)
			for ctx.Err() == nil {
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		}()
	}
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			lab.TCPConnectStorm(ctx, v.A, tcpAddr, 16, 100*time.Millisecond)
		}
	}()
	wg.Wait()
	if floodErr != nil || flood.Sent == 0 {
		t.Fatalf("udp flood: %+v %v", flood, floodErr)
	}
	second, err := n.Sample()
	if err != nil {
		t.Fatal(err)
	}
	res, err := n.Analyze(context.Background(), first, second)
	if err != nil {
		t.Fatal(err)
	}
	ns, ok := res.Lookup(lab.Inode(t, b.Path))
	if !ok {
		t.Fatal("the lossy namespace is not in the result")
	}
	held := func(s policy.Socket) bool {
		return slices.Contains(s.Processes, policy.SocketProcess{PID: pid, Comm: comm})
	}

	udp := finding(t, ns.Report, stage.UDPRcvbuf)
	i := slices.IndexFunc(udp.Sockets, func(s policy.Socket) bool { return s.Proto == "udp" && s.Local == udpAddr })
	if i < 0 {
		t.Fatalf("udp-rcvbuf names sockets %+v, want udp %s", udp.Sockets, udpAddr)
	}
	if s := udp.Sockets[i]; s.Drops == 0 || s.Drops > uint64(flood.Sent) || s.RcvBuf < holdRcvBuf || !held(s) {
		t.Errorf("udp socket %+v: want drops in (0, %d], rcvbuf ≥ %d, held by pid %d %s", s, flood.Sent, holdRcvBuf, pid, comm)
	}

	acc := finding(t, ns.Report, stage.TCPAcceptQueue)
	j := slices.IndexFunc(acc.Sockets, func(s policy.Socket) bool { return s.Proto == "tcp" && s.Local == tcpAddr })
	if j < 0 {
		t.Fatalf("tcp-accept-queue names sockets %+v, want tcp %s", acc.Sockets, tcpAddr)
	}
	if s := acc.Sockets[j]; s.Listen == nil || s.Listen.Backlog != holdBacklog || !held(s) {
		t.Errorf("listener %+v: want backlog %d, held by pid %d %s", s, holdBacklog, pid, comm)
	}

	rcv := finding(t, ns.Report, stage.TCPRcvbuf)
	named := 0
	for _, s := range rcv.Sockets {
		if s.Proto != "tcp" || s.Local != connAddr {
			continue
		}
		named++
		if !strings.HasPrefix(s.Remote, v.AAddr+":") || s.Drops == 0 || s.RcvBuf != 2*holdRcvBuf || !held(s) {
			t.Errorf("connection %+v: want one from %s with drops, rcvbuf %d, held by pid %d %s", s, v.AAddr, 2*holdRcvBuf, pid, comm)
		}
	}
	if named != holdConns {
		t.Errorf("tcp-rcvbuf names sockets %+v, want the %d connections to %s", rcv.Sockets, holdConns, connAddr)
	}

	var out bytes.Buffer
	if err := render.Table(&out, &pipeline.Result{Meta: res.Meta, Delta: ns.Delta, Report: ns.Report}); err != nil {
		t.Fatal(err)
	}
	verdict := strings.Join(strings.Fields(strings.SplitN(out.String(), "VERDICT: ", 2)[1]), " ") // unwrapped
	for _, want := range []string{fmt.Sprintf("pid %d %s", pid, comm), "udp " + udpAddr} {
		if !strings.Contains(verdict[:strings.Index(verdict, "/s")], want) {
			t.Errorf("the verdict does not name %q:\n%s", want, out.String())
		}
	}
}

func finding(t *testing.T, r *policy.Report, st stage.Stage) *policy.Finding {
	t.Helper()
	for i := range r.Findings {
		if r.Findings[i].Stage == st {
			return &r.Findings[i]
		}
	}
	t.Fatalf("no %s finding in %+v", st, r.Findings)
	return nil
}

// Issue 13 item 2, in the lab: a finding on one end of a veth pair across two namespaces
// (tbf on A's egress drops) names the other end, found among the node's namespaces.
func TestNodeNamesTheVethPeer(t *testing.T) {
	lab.RequireRoot(t)
	a, b := lab.NewNS(t, "npa"), lab.NewNS(t, "npb")
	v := lab.NewVeth(t, a, b, lab.VethOpts{})
	// The shaper is in place before the interval starts: a qdisc new at its end has no
	// baseline. Bursts at half its rate overflow its short queue (as InjectQdisc sends).
	lab.SetShaper(t, a, v.AName, lab.ShaperRate, "pfifo", lab.QdiscLimit)
	n := openNode(t)
	first, err := n.Sample()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if _, err := lab.UDPFlood(ctx, v.A, v.BAddr+":9", lab.FloodOpts{Flows: 4, Size: 1000,
		PPS: lab.ShaperRate / 1000 / 2, Burst: lab.QdiscBurst}); err != nil {
		t.Fatal(err)
	}
	second, err := n.Sample()
	if err != nil {
		t.Fatal(err)
	}
	res, err := n.Analyze(context.Background(), first, second)
	if err != nil {
		t.Fatal(err)
	}
	ra, ok := res.Lookup(lab.Inode(t, a.Path))
	rb, okb := res.Lookup(lab.Inode(t, b.Path))
	if !ok || !okb {
		t.Fatal("the pair's namespaces are not in the result")
	}
	peer := rb.Delta.Link(v.BName)
	if peer == nil {
		t.Fatalf("no %s in %s's links", v.BName, b.Name)
	}
	i := slices.IndexFunc(ra.Report.Findings, func(f policy.Finding) bool { return f.Interface == v.AName })
	if i < 0 {
		t.Fatalf("no finding on %s: %+v", v.AName, ra.Report.Findings)
	}
	want := policy.LinkPeer{Interface: v.BName, Ifindex: peer.Index, NetnsIno: lab.Inode(t, b.Path), Netns: b.Path}
	if f := ra.Report.Findings[i]; f.Peer == nil || *f.Peer != want {
		t.Errorf("%s on %s: peer %+v, want %+v", f.ID, v.AName, f.Peer, want)
	}
}

// Issue 13 item 4 with a real container runtime: a pod's container (busybox nc, stopped so it
// never accepts) holds a listener whose accept queue overflows; one interval over the node
// names the pod, the container, the process and the socket, in the finding and in one verdict
// line, from the CRI.
func TestNodeNamesThePodSocket(t *testing.T) {
	c := ctrtest.Start(t) // skips, saying why, where containerd cannot run
	p := c.RunPod(t, "default", "web-0")
	ct := p.RunContainer(t, "web", "/bin/nc", "-l", "-p", "8080")
	pid := ct.PID(t)
	podNS := fmt.Sprintf("/proc/%d/ns/net", pid)
	lab.WaitListening(t, pid, 8080)
	if err := unix.Kill(pid, unix.SIGSTOP); err != nil { // it accepts nothing from now on
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Kill(pid, unix.SIGCONT) })

	o := nodeOptions(t)
	o.ProcRoot = ""
	o.Owner = owner.Options{CRISockets: []string{c.Socket}, PodLogDir: c.PodLogDir, ContainerLogDir: c.ContainerLogDir}
	n, err := pipeline.OpenNode(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	first, err := n.Sample()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	in := &lab.NS{Name: podNS, Path: podNS}
	for ctx.Err() == nil {
		lab.TCPConnectStorm(ctx, in, "127.0.0.1:8080", 16, 100*time.Millisecond)
	}
	second, err := n.Sample()
	if err != nil {
		t.Fatal(err)
	}
	res, err := n.Analyze(context.Background(), first, second)
	if err != nil {
		t.Fatal(err)
	}
	ns, ok := res.Lookup(lab.Inode(t, podNS))
	if !ok {
		t.Fatal("the pod's namespace is not in the result")
	}
	acc := finding(t, ns.Report, stage.TCPAcceptQueue)
	i := slices.IndexFunc(acc.Sockets, func(s policy.Socket) bool { return s.Proto == "tcp" && strings.HasSuffix(s.Local, ":8080") })
	if i < 0 {
		t.Fatalf("tcp-accept-queue names sockets %+v, want the listener on 8080", acc.Sockets)
	}
	s := acc.Sockets[i]
	if s.Listen == nil || s.Listen.Backlog == 0 || !slices.Contains(s.Processes, policy.SocketProcess{PID: pid, Comm: "nc"}) ||
		s.Container != "web" || s.Pod != "default/web-0" {
		t.Errorf("listener %+v: want a backlog, held by pid %d nc in container web of pod default/web-0", s, pid)
	}
	var out bytes.Buffer
	if err := render.Table(&out, &pipeline.Result{Meta: res.Meta, Delta: ns.Delta, Report: ns.Report}); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("packets are lost at tcp-accept-queue in pod default/web-0 (container web, pid %d nc, tcp %s)", pid, s.Local)
	if got := strings.Join(strings.Fields(out.String()), " "); !strings.Contains(got, want) {
		t.Errorf("no %q in\n%s", want, out.String())
	}
}
