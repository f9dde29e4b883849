package policy

import (
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

func (b *db) firewall(fw *model.Firewall) *db { b.d.Firewall = fw; return b }

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

// analyze runs Analyze and checks the report against the invariants every verdict holds
// (Check): every table case below is a scenario of it.
func analyze(t testing.TB, d *model.Delta, cfg Config) *Report {
	t.Helper()
	return analyzeWith(t, d, Settings{}, cfg)
}

func analyzeWith(t testing.TB, d *model.Delta, s Settings, cfg Config) *Report {
	t.Helper()
	r := AnalyzeWith(d, s, cfg)
	if err := Check(r, d); err != nil {
		t.Errorf("invariants: %v", err)
	}
	for _, f := range r.Funnel {
		for i, s := range f.Stages {
			if i > 0 && pathOrder[f.Stages[i-1].Stage] > pathOrder[s.Stage] {
				t.Errorf("funnel %s/%s: %s before %s, against the path", f.Interface, f.Dir, f.Stages[i-1].Stage, s.Stage)
			}
			if !s.Stage.Valid() {
				t.Errorf("funnel %s/%s: invalid stage %q", f.Interface, f.Dir, s.Stage)
			}
			if !s.Known && s.Residual != 0 {
				t.Errorf("funnel %s/%s %s: residual without measured in/out", f.Interface, f.Dir, s.Stage)
			}
		}
	}
	return r
}
