package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nettune/nettune/internal/lab"
)

// ctTableMax is the global nf_conntrack_max the scenario lowers to: far fewer entries than the
// flows it opens, so every flow beyond it loses its packets.
const ctTableMax = "16"

// ctRuleset makes conntrack track B's input: the kernel registers the conntrack hooks only
// for a namespace where some rule needs connection state.
const ctRuleset = `table inet nettune_ct {
	chain in {
		type filter hook input priority 0; policy accept;
		ct state new accept
	}
}
`

// ctDoc is the part of advise's JSON the conntrack scenario asserts on.
type ctDoc struct {
	Findings []struct {
		ID, Stage, Class string
		Evidence         []struct{ Counter, Note string }
	} `json:"findings"`
	Plan []struct {
		Knob, Netns, Current, Proposed, Command, Scope string
		Findings                                       []string
	} `json:"plan"`
}

// TestScenarioConntrackFull fills B's conntrack table (the global nf_conntrack_max lowered to
// 16) with one-datagram UDP flows from A and checks that advise, run against B, puts the loss
// at stage netfilter and proposes raising nf_conntrack_max in the host netns: the sysctl is
// read-only inside B. Counters only: with probes, conntrack's drops also show as kfree_skb
// reason NETFILTER_DROP, which the in-path rules still report as a policy finding of its own.
// TestScenarioConntrackFull runs counters-only and with probes: with probes the same drops
// also arrive as NETFILTER_DROP events, which must confirm the conntrack finding rather than
// make a second one.
func TestScenarioConntrackFull(t *testing.T) {
	for _, mode := range []struct{ name, flag string }{{"counters", "--no-bpf"}, {"bpf", ""}} {
		t.Run(mode.name, func(t *testing.T) { conntrackScenario(t, mode.flag) })
	}
}

func conntrackScenario(t *testing.T, modeFlag string) {
	lab.RequireRoot(t)
	if _, err := os.Stat("/proc/sys/net/netfilter/nf_conntrack_max"); err != nil {
		t.Skip("kernel without conntrack")
	}
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("nft not installed (make deps-test installs nftables): conntrack tracks only where a rule needs it")
	}
	lab.Global(t)
	v := pair(t)
	v.B.Do(t, func() error { // a child forked from this locked thread starts in B
		cmd := exec.Command(nft, "-f", "-")
		cmd.Stdin = strings.NewReader(ctRuleset)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft: %v: %s", err, out)
		}
		return nil
	})
	lab.SetSysctl(t, nil, "net.netfilter.nf_conntrack_max", ctTableMax)
	sink := lab.UDPSink(t, v.B, v.BAddr+":0", lab.SinkOpts{Read: true})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { // each round opens 64 new sockets: 64 new flows, unreplied entries live 30 s
		var err error
		for ctx.Err() == nil && err == nil {
			_, err = lab.UDPFlood(ctx, v.A, sink.Addr(), lab.FloodOpts{Flows: 64, Packets: 640, Duration: 100 * time.Millisecond})
		}
		done <- err
	}()
	time.Sleep(500 * time.Millisecond)
	var out, errb bytes.Buffer
	args := []string{"advise", "-o", "json", "--netns", v.B.Name, "--interval", "2s"}
	if modeFlag == "--no-bpf" {
		args = append(args, modeFlag)
	}
	err = Execute(context.Background(), args,
		Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	code := ExitCode(err, &errb)
	cancel()
	if ferr := <-done; ferr != nil {
		t.Fatalf("flood: %v", ferr)
	}

	var d ctDoc
	if err := json.Unmarshal(out.Bytes(), &d); err != nil {
		t.Fatalf("advise output is not JSON: %v\n%s\nstderr: %s", err, out.String(), errb.String())
	}
	if code != ExitLoss {
		t.Errorf("exit status %d, want %d; stderr: %s", code, ExitLoss, errb.String())
	}
	if len(d.Findings) == 0 {
		t.Fatalf("no findings; stderr: %s", errb.String())
	}
	top := d.Findings[0]
	if top.Stage != "netfilter" || top.Class != "capacity" || top.ID != "netfilter/"+v.B.Name+"/conntrack" {
		t.Fatalf("top finding %s (%s/%s), want the conntrack table; all: %+v", top.ID, top.Stage, top.Class, d.Findings)
	}
	var full bool
	for _, x := range top.Evidence {
		full = full || strings.Contains(x.Note, "% full") && strings.Contains(x.Note, "of "+ctTableMax+" entries")
	}
	if !full {
		t.Errorf("no table-fill evidence against nf_conntrack_max %s: %+v", ctTableMax, top.Evidence)
	}
	for _, a := range d.Plan {
		if a.Knob != "sysctl:net.netfilter.nf_conntrack_max" {
			continue
		}
		if a.Netns != "" || a.Scope != "global" || a.Current != ctTableMax || a.Proposed != "32" ||
			a.Command != "sysctl -w net.netfilter.nf_conntrack_max=32" || len(a.Findings) == 0 || a.Findings[0] != top.ID {
			t.Errorf("action %+v: want 16 → 32 in the host netns for %s", a, top.ID)
		}
		return
	}
	t.Errorf("plan does not raise nf_conntrack_max: %+v", d.Plan)
}
