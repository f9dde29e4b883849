package policy

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

const interval = 10 * time.Second

// db builds a Delta by hand: a 2-CPU host, kernel-default sysctls (rmem_max as this machine
// ships it), no traffic.
type db struct{ d *model.Delta }

func newDelta() *db {
	cur := &model.Sample{NCPU: 2, Sysctls: map[string]string{
		"net.core.netdev_max_backlog":  "1000",
		"net.core.netdev_budget":       "300",
		"net.core.netdev_budget_usecs": "8000",
		"net.core.rmem_max":            "4194304",
		"net.core.rmem_default":        "212992",
		"net.core.somaxconn":           "4096",
		"net.ipv4.tcp_rmem":            "4096\t131072\t6291456",
		"net.ipv4.tcp_moderate_rcvbuf": "1",
		"net.ipv4.udp_mem":             "188154\t250874\t376308",
		"net.ipv4.tcp_mem":             "94077\t125437\t188154",
		"net.ipv4.ipfrag_high_thresh":  "4194304",
		"net.ipv4.ipfrag_time":         "30",
		"net.ipv6.ip6frag_high_thresh": "4194304",
	}}
	return &db{d: &model.Delta{
		Interval: interval, Cur: cur, SNMP: map[string]uint64{},
		Softnet: []model.SoftnetCPU{{CPU: 0}, {CPU: 1}},
	}}
}

// netns makes the delta come from a child netns: global sysctls vanish, rmem_* stay readable.
func (b *db) netns(ns string) *db {
	b.d.Cur.Netns = ns
	for k := range b.d.Cur.Sysctls {
		if isGlobal(k) && k != "net.core.rmem_max" && k != "net.core.rmem_default" {
			delete(b.d.Cur.Sysctls, k)
		}
	}
	return b
}

func (b *db) sysctl(k, v string) *db { b.d.Cur.Sysctls[k] = v; return b }

// conntrack sets nf_conntrack counter differences and the table gauges (a child netns shows
// nf_conntrack_max and _buckets read-only, so they stay after netns()).
func (b *db) conntrack(count, max int, kv map[string]uint64) *db {
	b.d.Conntrack = map[string]uint64{}
	for k, v := range kv {
		b.d.Conntrack[k] = v
	}
	b.d.Cur.Sysctls["net.netfilter.nf_conntrack_count"] = strconv.Itoa(count)
	b.d.Cur.Sysctls["net.netfilter.nf_conntrack_max"] = strconv.Itoa(max)
	b.d.Cur.Sysctls["net.netfilter.nf_conntrack_buckets"] = "262144"
	return b
}

func (b *db) snmp(kv map[string]uint64) *db {
	for k, v := range kv {
		b.d.SNMP[k] = v
	}
	return b
}

func (b *db) softnet(cpu int, f func(*model.SoftnetCPU)) *db {
	f(&b.d.Softnet[cpu])
	return b
}

func (b *db) netRx(v ...uint64) *db { b.d.NetRx = v; return b }

func (b *db) irqbalance() *db { b.d.Cur.IRQBalance = true; return b }

func (b *db) irq(num int, link string, queue int, perCPU ...uint64) *db {
	b.d.Interrupts = append(b.d.Interrupts, model.IRQ{IRQ: num, Link: link, Queue: queue, Dir: model.Rx,
		Name: link + "-rx", PerCPU: perCPU, Affinity: "0-1"})
	return b
}

func (b *db) inPath(ip *model.InPath) *db { b.d.InPath = ip; return b }

type linkOpt func(*model.Link)

// link adds an interface with 100000 packets each way, one queue, RPS off, pfifo_fast.
func (b *db) link(name string, opts ...linkOpt) *db {
	l := model.Link{Name: name, Index: len(b.d.Links) + 2, OperUp: true, MTU: 1500, TxQueueLen: 1000,
		NumRxQ: 1, NumTxQ: 1, RxQueues: []model.RxQueue{{Queue: 0, RPSCPUs: "0"}},
		Stats: model.LinkStats{RxPackets: 100000, TxPackets: 100000}}
	for _, o := range opts {
		o(&l)
	}
	b.d.Links = append(b.d.Links, l)
	return b
}

func (b *db) build() *model.Delta { return b.d }

func stats(f func(*model.LinkStats)) linkOpt { return func(l *model.Link) { f(&l.Stats) } }

func counter(name string, st stage.Stage, k model.Kind, dir model.Dir, q int, v uint64) linkOpt {
	return func(l *model.Link) {
		l.Counters = append(l.Counters, model.Counter{Name: name, Stage: st, Kind: k, Dir: dir, Queue: q, Value: v})
	}
}

func ring(rx, rxMax uint32) linkOpt {
	return func(l *model.Link) { l.Ring = &model.Ring{Rx: rx, RxMax: rxMax, Tx: 512, TxMax: 4096} }
}

func qdisc(q model.Qdisc) linkOpt { return func(l *model.Link) { l.Qdiscs = append(l.Qdiscs, q) } }

func veth(l *model.Link) { l.Kind, l.Driver = "veth", "veth" }

func queues(n int) linkOpt {
	return func(l *model.Link) {
		l.NumRxQ, l.NumTxQ, l.RxQueues = n, n, nil
		for i := 0; i < n; i++ {
			l.RxQueues = append(l.RxQueues, model.RxQueue{Queue: i, RPSCPUs: "0"})
		}
	}
}

func find(r *Report, st stage.Stage) *Finding {
	for i := range r.Findings {
		if r.Findings[i].Stage == st {
			return &r.Findings[i]
		}
	}
	return nil
}

func action(r *Report, knob string) *Action {
	for i := range r.Plan {
		if r.Plan[i].Knob == knob {
			return &r.Plan[i]
		}
	}
	return nil
}

func knobs(r *Report) []string {
	out := []string{}
	for _, a := range r.Plan {
		out = append(out, a.Knob)
	}
	return out
}

// knobGrammar is docs/vocabulary.md's knob vocabulary.
var knobGrammar = regexp.MustCompile(`^(sysctl:[a-z0-9_]+(\.[a-z0-9_]+)+|ethtool-ring:[^:\s]+:(rx|tx)|ethtool-channels:[^:\s]+|` +
	`rps:[^:\s]+:rx-[0-9]+|rps-flow-cnt:[^:\s]+:rx-[0-9]+|irq-affinity:[0-9]+|txqueuelen:[^:\s]+|qdisc-limit:[^:\s]+:[0-9a-f]+:[0-9a-f]*)$`)

// checkInvariants holds for every report: valid stages, unique IDs, the knob grammar, plan
// actions only for actionable capacity findings, nothing proposed lower than current.
func checkInvariants(t *testing.T, r *Report) {
	t.Helper()
	ids := map[string]*Finding{}
	for i := range r.Findings {
		f := &r.Findings[i]
		if !f.Stage.Valid() {
			t.Errorf("finding %s: invalid stage %q", f.ID, f.Stage)
		}
		if ids[f.ID] != nil {
			t.Errorf("duplicate finding ID %s", f.ID)
		}
		ids[f.ID] = f
		if f.Class != stage.ClassCapacity && len(f.Knobs) > 0 {
			t.Errorf("%s finding %s lists knobs %v", f.Class, f.ID, f.Knobs)
		}
		for _, k := range f.Knobs {
			if !knobGrammar.MatchString(k) {
				t.Errorf("finding %s: knob %q breaks the grammar", f.ID, k)
			}
		}
		if i > 0 {
			p := r.Findings[i-1]
			if p.Severity < f.Severity || (p.Severity == f.Severity && p.DropRate < f.DropRate) {
				t.Errorf("findings not sorted: %s before %s", p.ID, f.ID)
			}
		}
	}
	seen := map[string]bool{}
	for _, a := range r.Plan {
		if !knobGrammar.MatchString(a.Knob) {
			t.Errorf("action knob %q breaks the grammar", a.Knob)
		}
		if seen[a.Knob] {
			t.Errorf("two actions for %s", a.Knob)
		}
		seen[a.Knob] = true
		if len(a.Findings) == 0 {
			t.Errorf("action %s answers no finding", a.Knob)
		}
		for _, id := range a.Findings {
			f := ids[id]
			if f == nil {
				t.Errorf("action %s names unknown finding %s", a.Knob, id)
			} else if !actionable(f) {
				t.Errorf("action %s for non-actionable finding %s (%s, %s)", a.Knob, id, f.Class, f.Severity)
			}
		}
		if a.AtCap && (a.Proposed != a.Current || a.Command != "") {
			t.Errorf("action %s at cap but proposes %q with command %q", a.Knob, a.Proposed, a.Command)
		}
		if lowered(a.Current, a.Proposed) {
			t.Errorf("action %s lowers %q to %q", a.Knob, a.Current, a.Proposed)
		}
	}
	for _, f := range r.Funnel {
		for _, s := range f.Stages {
			if !s.Stage.Valid() {
				t.Errorf("funnel %s/%s: invalid stage %q", f.Interface, f.Dir, s.Stage)
			}
			if !s.Known && s.Residual != 0 {
				t.Errorf("funnel %s/%s %s: residual without measured in/out", f.Interface, f.Dir, s.Stage)
			}
		}
	}
}

// lowered compares numeric values field by field.
func lowered(cur, next string) bool {
	var a, b []int64
	for _, p := range []struct {
		s   string
		out *[]int64
	}{{cur, &a}, {next, &b}} {
		for _, f := range regexp.MustCompile(`^[0-9]+( [0-9]+)*$`).FindAllString(p.s, -1) {
			for _, x := range regexp.MustCompile(`[0-9]+`).FindAllString(f, -1) {
				var v int64
				for _, c := range x {
					v = v*10 + int64(c-'0')
				}
				*p.out = append(*p.out, v)
			}
		}
	}
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if b[i] < a[i] {
			return true
		}
	}
	return false
}
