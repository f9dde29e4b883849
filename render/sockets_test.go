package render

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

// podSocketResult is a pod's DNS server dropping at its receive buffer, a listener whose
// accept queue filled and a connection that dropped at its receive buffer, with their owners
// named as the pipeline names them.
func podSocketResult() *pipeline.Result {
	set, unset := true, false
	cur := &model.Sample{Time: time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC), NCPU: 2, Netns: "/proc/4242/ns/net",
		Sysctls: map[string]string{"net.core.rmem_default": "212992", "net.core.rmem_max": "212992", "net.core.somaxconn": "4096",
			"net.ipv4.tcp_rmem": "4096 131072 6291456"},
		TCPListeners: []model.TCPListener{{Local: "10.0.0.7:8080", Inode: 31, AcceptQueue: 129, Backlog: 128}}}
	d := &model.Delta{Interval: 10 * time.Second, Cur: cur, Prev: &model.Sample{},
		SNMP: map[string]uint64{"Udp.InDatagrams": 107000, "Udp.RcvbufErrors": 48000, "Tcp.PassiveOpens": 900,
			"TcpExt.ListenOverflows": 100, "TcpExt.ListenDrops": 100, "Tcp.InSegs": 60000, "TcpExt.TCPRcvQDrop": 600},
		UDPSockets: []model.UDPSocket{
			{Local: "0.0.0.0:53", Inode: 21, Drops: 40000, RcvBuf: 212992, RcvBufSet: &unset},
			{Local: "[::]:53", Inode: 22, Drops: 8000, RcvBuf: 8192, RcvBufSet: &set}},
		TCPDropping: []model.TCPConn{{Local: "10.0.0.7:5201", Remote: "10.0.0.9:40312", Inode: 41, State: "established",
			Drops: 620, RcvBuf: 8192}},
	}
	r := policy.Analyze(d, policy.DefaultConfig())
	owners := map[uint64]policy.Socket{
		21: {Processes: []policy.SocketProcess{{PID: 4242, Comm: "coredns"}}, Container: "coredns", Pod: "default/dns-0"},
		22: {Processes: []policy.SocketProcess{{PID: 4242, Comm: "coredns"}, {PID: 4250, Comm: "coredns"}, {PID: 4251, Comm: "coredns"}},
			Container: "coredns", Pod: "default/dns-0"},
		31: {Processes: []policy.SocketProcess{{PID: 4300, Comm: "httpd"}}, Container: "5f1c2a9e03b7", Pod: "default/dns-0"},
		41: {Processes: []policy.SocketProcess{{PID: 4310, Comm: "iperf3"}}, Container: "bench", Pod: "default/dns-0"},
	}
	for i := range r.Findings {
		for j := range r.Findings[i].Sockets {
			s := &r.Findings[i].Sockets[j]
			o := owners[s.Inode]
			s.Processes, s.Container, s.Pod = o.Processes, o.Container, o.Pod
		}
	}
	return &pipeline.Result{Meta: pipeline.Meta{Host: "node-1", Kernel: "6.18.44", Mode: "counters"}, Delta: d, Report: r}
}

func init() {
	commands["advise_pod_sockets"] = struct {
		formats []Format
		write   func(w io.Writer, f Format) error
	}{[]Format{FormatTable, FormatJSON, FormatPrometheus}, func(w io.Writer, f Format) error { return Advise(w, f, podSocketResult()) }}
}

// Issue 13 item 4: the verdict names the pod, container, process and socket in one line; the
// finding lists its sockets with their owners; JSON carries them.
func TestVerdictNamesTheSocket(t *testing.T) {
	res := podSocketResult()
	if err := policy.Check(res.Report, res.Delta); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := TableLook(&b, res, Look{Width: 200}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"VERDICT: packets are lost at udp-rcvbuf in pod default/dns-0 (container coredns, pid 4242 coredns, udp 0.0.0.0:53 and 1 more socket): 4,800/s (31.0% of that stage's traffic).",
		"socket: udp 0.0.0.0:53: 40,000 drops, rcvbuf 212,992 B, SO_RCVBUF not set; container coredns, pid 4242 coredns, pod default/dns-0",
		"socket: udp [::]:53: 8,000 drops, rcvbuf 8,192 B, SO_RCVBUF set by the application; container coredns, pids 4242 coredns, 4250 coredns and 1 more, pod default/dns-0",
		"socket: tcp 10.0.0.7:8080: accept queue 129 of 128; container 5f1c2a9e03b7, pid 4300 httpd, pod default/dns-0",
		"socket: tcp 10.0.0.7:5201 ← 10.0.0.9:40312: 620 drops, rcvbuf 8,192 B; container bench, pid 4310 iperf3, pod default/dns-0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	b.Reset()
	if err := JSON(&b, res); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Findings []policy.Finding `json:"findings"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(doc.Findings[0].Sockets, res.Report.Findings[0].Sockets) || doc.Findings[0].Sockets[0].Pod != "default/dns-0" {
		t.Errorf("JSON sockets %+v", doc.Findings[0].Sockets)
	}
	if !reflect.DeepEqual(doc.Findings[1].Sockets, res.Report.Findings[1].Sockets) || doc.Findings[1].Sockets[0].Remote != "10.0.0.9:40312" {
		t.Errorf("JSON connections %+v", doc.Findings[1].Sockets)
	}
	b.Reset()
	if err := HTML(&b, res); err != nil {
		t.Fatal(err)
	}
	if want := `socket: <span class="mono">tcp 10.0.0.7:5201 ← 10.0.0.9:40312: 620 drops, rcvbuf 8,192 B; container bench, pid 4310 iperf3, pod default/dns-0</span>`; !strings.Contains(b.String(), want) {
		t.Errorf("no %q in the page\n%s", want, b.String())
	}
}

// Without owners (a recording, a socket closed since) the verdict names the socket alone and
// keeps the netns.
func TestVerdictNamesAnUnownedSocket(t *testing.T) {
	f := policy.Finding{Stage: "udp-rcvbuf", Netns: "web", Sockets: []policy.Socket{{Proto: "udp", Local: "198.18.0.2:9000"}}, SocketsOmitted: 2}
	if got, want := verdictWhere(f), " (netns web, udp 198.18.0.2:9000 and 2 more sockets)"; got != want {
		t.Errorf("verdictWhere = %q, want %q", got, want)
	}
	if got := socketLines(f); !reflect.DeepEqual(got, []string{"udp 198.18.0.2:9000", "2 more sockets not listed"}) {
		t.Errorf("socketLines = %q", got)
	}
	// A connection is named with the peer its data came from.
	f = policy.Finding{Stage: "tcp-rcvbuf", Netns: "web", Sockets: []policy.Socket{{Proto: "tcp", Local: "198.18.0.2:5201", Remote: "198.18.0.1:40312", Drops: 12}}}
	if got, want := verdictWhere(f), " (netns web, tcp 198.18.0.2:5201 ← 198.18.0.1:40312)"; got != want {
		t.Errorf("verdictWhere = %q, want %q", got, want)
	}
	if got := socketLines(f); !reflect.DeepEqual(got, []string{"tcp 198.18.0.2:5201 ← 198.18.0.1:40312: 12 drops"}) {
		t.Errorf("socketLines = %q", got)
	}
}

// Issue 13 item 2: a finding on a veth names the other end, in the table and the HTML page.
func TestFindingNamesItsPeer(t *testing.T) {
	for _, c := range []struct {
		peer policy.LinkPeer
		want string
	}{
		{policy.LinkPeer{Interface: "vethab12", Ifindex: 7, Host: true}, "peer: host veth vethab12 (ifindex 7)"},
		{policy.LinkPeer{Interface: "eth0", Ifindex: 2, Pod: "default/dns-0", Netns: "/proc/4242/ns/net"}, "peer: veth eth0 (ifindex 2) in pod default/dns-0"},
		{policy.LinkPeer{Interface: "eth0", Ifindex: 2, Netns: "/run/netns/web"}, "peer: veth eth0 (ifindex 2) in netns /run/netns/web"},
	} {
		res := podSocketResult()
		res.Report.Findings[0].Peer = &c.peer
		for name, write := range map[string]func(io.Writer, *pipeline.Result) error{"table": Table, "html": HTML} {
			var b bytes.Buffer
			if err := write(&b, res); err != nil {
				t.Fatal(err)
			}
			if got := strings.ReplaceAll(strings.ReplaceAll(b.String(), `<span class="mono">`, ""), "</span>", ""); !strings.Contains(got, c.want) {
				t.Errorf("%s: no %q in\n%s", name, c.want, b.String())
			}
		}
	}
}
