package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nettune/nettune/bpf"
	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/internal/netns"
)

// The lab scenarios inject loss at a known stage between two test namespaces, run
// `nettune advise` against the namespace where the loss happens, and assert the verdict: the
// top finding's stage and class, and the knob the plan proposes. They run sequentially: some
// injectors change host-wide state (netdev_max_backlog, RPS) and softnet_stat is per host.

// adviseDoc is the part of the JSON document the scenarios assert on.
type adviseDoc struct {
	Schema   string `json:"schema"`
	Mode     string `json:"mode"`
	BPFNote  string `json:"bpf_note"`
	Findings []struct {
		ID        string   `json:"id"`
		Stage     string   `json:"stage"`
		Class     string   `json:"class"`
		Severity  string   `json:"severity"`
		Interface string   `json:"interface"`
		Netns     string   `json:"netns"`
		Hook      string   `json:"hook"`
		Ratio     float64  `json:"ratio"`
		DropRate  float64  `json:"drop_rate"`
		Knobs     []string `json:"knobs"`
		Reasons   []struct {
			Reason string `json:"reason"`
		} `json:"reasons"`
		Evidence []evidence `json:"evidence"`
		Rules    []struct {
			Family, Table, Chain, Hook, Expr string
			Handle                           uint64
		} `json:"rules"`
		Checked []string `json:"checked"`
	} `json:"findings"`
	Plan []struct {
		Knob     string   `json:"knob"`
		Current  string   `json:"current"`
		Proposed string   `json:"proposed"`
		Scope    string   `json:"scope"`
		Findings []string `json:"findings"`
	} `json:"plan"`
	Funnel []struct {
		Interface string `json:"interface"`
		Dir       string `json:"dir"`
		Queue     *int   `json:"queue"`
		Stages    []struct {
			Stage   string  `json:"stage"`
			Point   string  `json:"point"`
			InKnown bool    `json:"in_known"`
			InRate  float64 `json:"in_rate"`
		} `json:"stages"`
	} `json:"funnel"`
	Missing []string `json:"missing"`
	Advice  []string `json:"advice"`
}

// evidence is one line of a finding's evidence.
type evidence struct {
	Counter string `json:"counter"`
	Delta   uint64 `json:"delta"`
	Note    string `json:"note"`
}

// runAdvise runs the advise command in-process and returns its JSON document and exit status.
func runAdvise(t *testing.T, args ...string) (adviseDoc, int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	err := Execute(context.Background(), append([]string{"advise", "-o", "json"}, args...),
		Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	code := ExitCode(err, &errb)
	var d adviseDoc
	if out.Len() > 0 {
		if jerr := json.Unmarshal(out.Bytes(), &d); jerr != nil {
			t.Fatalf("advise output is not JSON: %v\n%s", jerr, out.String())
		}
	}
	return d, code, errb.String()
}

// injector is a lab loss injector: blocks until ctx ends.
type injector func(ctx context.Context, t testing.TB, v *lab.Veth) (lab.FloodResult, error)

// underLoss starts inject in the background (closedloop_test.go), runs advise against ns
// while the loss lasts, and stops the traffic.
func underLoss(t *testing.T, v *lab.Veth, inject injector, ns *lab.NS, args ...string) (adviseDoc, int, string) {
	t.Helper()
	stop := background(t, v, inject)
	d, code, stderr := runAdvise(t, append([]string{"--netns", ns.Name, "--interval", "2s"}, args...)...)
	stop()
	return d, code, stderr
}

func pair(t *testing.T) *lab.Veth {
	a, b := lab.NewNS(t, "scA"), lab.NewNS(t, "scB")
	return lab.NewVeth(t, a, b, lab.VethOpts{Queues: 2})
}

// udpRcvbufNoSetsockopt is the scenario: an application that never sets SO_RCVBUF
// (so it gets net.core.rmem_default) and does not keep up.
func udpRcvbufNoSetsockopt(ctx context.Context, t testing.TB, v *lab.Veth) (lab.FloodResult, error) {
	sink := lab.UDPSink(t, v.B, v.BAddr+":0", lab.SinkOpts{Read: false})
	for ctx.Err() == nil {
		if _, err := lab.UDPFlood(ctx, v.A, sink.Addr(), lab.FloodOpts{Size: 512, Flows: 4, Duration: 200 * time.Millisecond}); err != nil {
			return lab.FloodResult{}, err
		}
	}
	return lab.FloodResult{}, nil
}

// acceptAtSomaxconn is InjectAcceptQueue with B's somaxconn lowered to the listener's
// backlog, so that somaxconn is the limit and the knob. With somaxconn above the listen()
// backlog the application's backlog is the limit and somaxconn is never proposed
// (TestVerdictListenBacklogIsTheApplications). B is the test's own namespace: it goes, with
// its somaxconn, when the test ends.
func acceptAtSomaxconn(ctx context.Context, t testing.TB, v *lab.Veth) (lab.FloodResult, error) {
	err := netns.Do(v.B.Name, func() error {
		return os.WriteFile("/proc/sys/net/core/somaxconn", []byte(strconv.Itoa(lab.AcceptBacklog)), 0o644)
	})
	if err != nil {
		return lab.FloodResult{}, err
	}
	return lab.InjectAcceptQueue(ctx, t, v)
}

func TestScenarios(t *testing.T) {
	lab.RequireRoot(t)
	for _, sc := range []struct {
		name     string
		inject   injector
		onA      bool // loss appears in A's namespace (sender side)
		stage    string
		class    string
		knob     string // a knob the plan must propose for the top finding ("" = none)
		noPlan   bool   // benign: the plan must be empty
		reason   string // drop reason expected when probes are attached
		exitCode int
	}{
		{name: "udp-rcvbuf", inject: udpRcvbufNoSetsockopt, stage: "udp-rcvbuf", class: "capacity",
			knob: "sysctl:net.core.rmem_default", reason: "SOCKET_RCVBUFF", exitCode: ExitLoss},
		{name: "backlog", inject: lab.InjectBacklog, stage: "backlog", class: "capacity",
			knob: "sysctl:net.core.netdev_max_backlog", reason: "CPU_BACKLOG", exitCode: ExitLoss},
		{name: "qdisc", inject: lab.InjectQdisc, onA: true, stage: "qdisc", class: "capacity",
			knob: "qdisc-limit:", reason: "QDISC_DROP", exitCode: ExitLoss},
		{name: "accept-queue", inject: acceptAtSomaxconn, stage: "tcp-accept-queue", class: "capacity",
			knob: "sysctl:net.core.somaxconn", exitCode: ExitLoss},
		{name: "reassembly", inject: lab.InjectReassembly, stage: "ip-reassembly", class: "capacity",
			knob: "sysctl:net.ipv4.ipfrag_high_thresh", exitCode: ExitLoss},
		{name: "port-scan", inject: lab.InjectPortScan, stage: "socket-lookup", class: "benign",
			noPlan: true, reason: "NO_SOCKET", exitCode: ExitOK},
	} {
		for _, mode := range []string{"counters", "bpf"} {
			t.Run(sc.name+"/"+mode, func(t *testing.T) {
				v := pair(t)
				ns := v.B
				if sc.onA {
					ns = v.A
				}
				var args []string
				if mode == "counters" {
					args = append(args, "--no-bpf")
				}
				d, code, stderr := underLoss(t, v, sc.inject, ns, args...)
				if code != sc.exitCode {
					t.Errorf("exit status %d, want %d; stderr: %s", code, sc.exitCode, stderr)
				}
				if len(d.Findings) == 0 {
					t.Fatalf("no findings; stderr: %s", stderr)
				}
				top := d.Findings[0]
				if top.Stage != sc.stage || top.Class != sc.class {
					t.Fatalf("top finding %s/%s (%s), want %s/%s; all: %+v", top.Stage, top.Class, top.ID, sc.stage, sc.class, d.Findings)
				}
				if sc.noPlan {
					for _, f := range d.Findings {
						if f.Class == "capacity" && f.Severity != "info" { // pressure notes are not loss
							t.Errorf("benign scenario produced capacity finding %+v", f)
						}
					}
					if len(d.Plan) != 0 {
						t.Errorf("benign scenario has a plan: %+v", d.Plan)
					}
				}
				if sc.knob != "" && !proposes(d, top.ID, sc.knob) {
					t.Errorf("plan does not propose %s for %s: %+v", sc.knob, top.ID, d.Plan)
				}
				if mode == "bpf" && d.Mode == "counters+bpf" && sc.reason != "" {
					if dropReasons() && !hasReason(d, sc.reason) {
						t.Errorf("no finding cites drop reason %s: %+v", sc.reason, d.Findings)
					}
					// Without reasons the verdict above came from counters alone; the
					// locations are reported as evidence.
					if !dropReasons() && !slices.ContainsFunc(d.Missing, func(m string) bool { return strings.HasPrefix(m, "drop reasons (this kernel has none") }) {
						t.Errorf("no drop locations in the report: missing %q", d.Missing)
					}
				}
				if mode == "bpf" && d.Mode != "counters+bpf" {
					t.Errorf("probes not attached as root: %s", d.BPFNote)
				}
				// per-queue receive counts exist where the loss scenario receives (not on the
				// sending side of the qdisc scenario)
				if mode == "bpf" && !sc.onA && !queueInPath(d) {
					t.Errorf("no per-queue in-path funnel stage with traffic: %+v", d.Funnel)
				}
			})
		}
	}
}

// queueInPath: some per-queue funnel has an in-path point (tc ingress or XDP) that counted
// packets in the interval.
func queueInPath(d adviseDoc) bool {
	for _, f := range d.Funnel {
		if f.Queue == nil {
			continue
		}
		for _, s := range f.Stages {
			if s.InKnown && s.InRate > 0 && (strings.Contains(s.Point, "tc-ingress") || strings.Contains(s.Point, "xdp")) {
				return true
			}
		}
	}
	return false
}

// dropReasons reports whether this kernel names drop reasons (≥ 5.17; not 5.10).
func dropReasons() bool { return bpf.CheckFeatures().DropReasons.OK }

// dropLocations reports whether nettune can trace drops at all (with or without reasons).
func dropLocations() bool { return bpf.CheckFeatures().DropLocations.OK }

func proposes(d adviseDoc, findingID, knobPrefix string) bool {
	for _, a := range d.Plan {
		if !strings.HasPrefix(a.Knob, knobPrefix) {
			continue
		}
		for _, f := range a.Findings {
			if f == findingID {
				return true
			}
		}
	}
	return false
}

func hasReason(d adviseDoc, reason string) bool {
	for _, f := range d.Findings {
		for _, r := range f.Reasons {
			if r.Reason == reason {
				return true
			}
		}
	}
	return false
}

func TestScenarioCleanRun(t *testing.T) {
	lab.RequireRoot(t)
	v := pair(t)
	sink := lab.UDPSink(t, v.B, v.BAddr+":0", lab.SinkOpts{Read: true, RcvBuf: 4 << 20}) // provisioned: no reason to drop
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_, _ = lab.UDPFlood(ctx, v.A, sink.Addr(), lab.FloodOpts{PPS: 2000, Size: 200, Duration: 5 * time.Second})
	}()
	d, code, stderr := runAdvise(t, "--netns", v.B.Name, "--interval", "2s")
	if code != ExitOK {
		t.Errorf("exit status %d on a clean run; stderr: %s", code, stderr)
	}
	for _, f := range d.Findings {
		if f.Class == "capacity" && f.Severity != "info" {
			t.Errorf("clean run has finding %+v", f)
		}
	}
	if len(d.Plan) != 0 {
		t.Errorf("clean run has a plan: %+v", d.Plan)
	}
	if sink.Received() == 0 {
		t.Fatal("no traffic reached the sink: the run proves nothing")
	}
}
