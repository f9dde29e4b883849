package render

import (
	"bytes"
	"github.com/nettune/nettune/internal/golden"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nettune/nettune/apply"
	"github.com/nettune/nettune/bpf"
	"github.com/nettune/nettune/collect/netnsfind"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func applySteps(dry bool) *apply.Result {
	res := &apply.Result{DryRun: dry, Steps: []apply.Step{{
		Action: policy.Action{Knob: "sysctl:net.core.somaxconn", Netns: "web", Scope: model.ScopeNetns, Current: "4096", Proposed: "8192",
			Command: "ip netns exec web sysctl -w net.core.somaxconn=8192", Why: "accept queue overflows"},
		Decision: apply.DecideChange, Got: "8192", Seq: 1,
	}, {
		Action: policy.Action{Knob: "sysctl:net.core.rmem_max", Scope: model.ScopeGlobal, Current: "212992", Proposed: "425984",
			Why: "UDP receive buffers overflow"},
		Decision: apply.DecideAdvice, Note: "set in /etc/sysctl.d/90-net.conf: the admin's",
	}, {
		Action: policy.Action{Knob: "ethtool-ring:eth0:rx", Scope: model.ScopeDevice, Current: "512", Proposed: "1024",
			Command: "ethtool -G eth0 rx 1024", Why: "rx ring overflows"},
		Decision: apply.DecideFailed, Got: "512", Error: "reads back 512",
	}}}
	if !dry {
		res.ID = "20260301T120000Z-a1b2c3"
	}
	return res
}

func rollbackSteps() *apply.Result {
	return &apply.Result{ID: "20260301T130000Z-d4e5f6", Steps: []apply.Step{{
		Action:   policy.Action{Knob: "sysctl:net.core.somaxconn", Netns: "web", Scope: model.ScopeNetns, Current: "8192", Proposed: "4096", Why: "rollback of 20260301T120000Z-a1b2c3"},
		Decision: apply.DecideChange, Got: "4096",
	}}}
}

var dnsOwner = &apply.NetnsOwner{Pod: "kube-system/coredns-0", PodUID: "0b5e4d2a-7c1f-4e3b-9a55-3f7f1c2d9e10",
	Container: strings.Repeat("ab", 32)}

// rollbackGone is a rollback of a node run: one namespace restored, one gone.
func rollbackGone() *apply.Result {
	return &apply.Result{ID: "20260301T130000Z-d4e5f6", Steps: []apply.Step{{
		Action:   policy.Action{Knob: "sysctl:net.core.somaxconn", Netns: "web", Scope: model.ScopeNetns, Current: "8192", Proposed: "4096", Why: "rollback"},
		Decision: apply.DecideChange, Got: "4096", Seq: 1, NetnsIno: 4026532871,
	}, {
		Action:   policy.Action{Knob: "sysctl:net.ipv4.tcp_max_syn_backlog", Netns: "/proc/4242/ns/net", Scope: model.ScopeNetns, Proposed: "512", Why: "rollback"},
		Decision: apply.DecideGone, Seq: 2, NetnsIno: 4026532990, NetnsOwner: dnsOwner,
		Note: "netns /proc/4242/ns/net (pod kube-system/coredns-0) no longer exists: nothing to restore",
	}}}
}

// nodeSteps is apply over a node: a global knob once, a pod's namespace entered by its
// process, and a namespace named by ip netns.
func nodeSteps() *apply.Result {
	return &apply.Result{ID: "20260301T120000Z-a1b2c3", Steps: []apply.Step{{
		Action: policy.Action{Knob: "sysctl:net.core.rmem_default", Scope: model.ScopeGlobal, Current: "212992", Proposed: "425984",
			Command: "sysctl -w net.core.rmem_default=425984", Why: "UDP receive buffers overflow"},
		Decision: apply.DecideChange, Got: "425984", Seq: 1,
	}, {
		Action: policy.Action{Knob: "sysctl:net.ipv4.tcp_max_syn_backlog", Netns: "/proc/4242/ns/net", Scope: model.ScopeNetns,
			Current: "512", Proposed: "1024", Command: "nsenter --net=/proc/4242/ns/net sysctl -w net.ipv4.tcp_max_syn_backlog=1024",
			Why: "SYN queue overflows"},
		Decision: apply.DecideChange, Got: "1024", Seq: 2, NetnsIno: 4026532990, NetnsOwner: dnsOwner,
	}, {
		Action: policy.Action{Knob: "sysctl:net.core.somaxconn", Netns: "web", Scope: model.ScopeNetns, Current: "4096", Proposed: "8192",
			Command: "ip netns exec web sysctl -w net.core.somaxconn=8192", Why: "accept queue overflows"},
		Decision: apply.DecideChange, Got: "8192", Seq: 3, NetnsIno: 4026532871,
	}}}
}

// twoLossyNamespaces is the node's interval behind nodeSteps: three namespaces, two with loss.
func twoLossyNamespaces() *pipeline.NodeResult {
	loss := &policy.Report{Findings: []policy.Finding{{ID: "x", Class: stage.ClassCapacity, Severity: policy.SeverityWarning}}}
	return &pipeline.NodeResult{Namespaces: []pipeline.NamespaceResult{
		{Namespace: netnsfind.Namespace{Host: true}, Own: true, Report: &policy.Report{}},
		{Namespace: netnsfind.Namespace{ID: netnsfind.ID{Ino: 4026532990}, PIDs: []int{4242}}, Report: loss},
		{Namespace: netnsfind.Namespace{ID: netnsfind.ID{Ino: 4026532871}, Names: []string{"web"}}, Report: loss},
	}}
}

// persistSteps is apply --persist: a sysctl into nettune's sysctl.d file, an RPS mask for
// restore, and a change in another namespace that cannot persist.
func persistSteps() *apply.Result {
	return &apply.Result{ID: "20260301T120000Z-a1b2c3", Steps: []apply.Step{{
		Action: policy.Action{Knob: "sysctl:net.core.netdev_max_backlog", Current: "1000", Proposed: "2000",
			Command: "sysctl -w net.core.netdev_max_backlog=2000", Why: "backlog drops on cpu0"},
		Decision: apply.DecideChange, Got: "2000", Seq: 1, Persist: true,
	}, {
		Action: policy.Action{Knob: "rps:eth0:rx-0", Current: "0", Proposed: "3",
			Command: "echo 3 > /sys/class/net/eth0/queues/rx-0/rps_cpus", Why: "one CPU takes every packet of eth0"},
		Decision: apply.DecideChange, Got: "3", Seq: 2, Persist: true,
	}, {
		Action: policy.Action{Knob: "sysctl:net.core.somaxconn", Netns: "web", Current: "4096", Proposed: "8192",
			Why: "accept queue overflows"},
		Decision: apply.DecideAdvice, Note: "cannot persist sysctl net.core.somaxconn of netns web: …",
	}}, Persist: &apply.PersistResult{File: "/etc/sysctl.d/90-nettune.conf", Action: "written",
		Keys: []string{"net.core.netdev_max_backlog"}}}
}

// restoreSteps is nettune restore after a reboot.
func restoreSteps() *apply.Result {
	return &apply.Result{ID: "20260302T080000Z-0f1e2d", Steps: []apply.Step{{
		Action: policy.Action{Knob: "rps:eth0:rx-0", Current: "0", Proposed: "3",
			Command: "echo 3 > /sys/class/net/eth0/queues/rx-0/rps_cpus", Why: "restore at boot: persisted by 20260301T120000Z-a1b2c3"},
		Decision: apply.DecideChange, Got: "3", Seq: 1, Persist: true,
	}, {
		Action:   policy.Action{Knob: "irq-affinity:41", Proposed: "1", Why: "restore at boot: persisted by 20260301T120000Z-a1b2c3"},
		Decision: apply.DecideAdvice, Persist: true,
		Note: `not restored: persisted for "irq virtio0-input.0", which is now "irq virtio1-input.0"`,
	}}}
}

func status() *apply.Status {
	return &apply.Status{Knobs: []apply.KnobStatus{
		{Knob: "sysctl:net.core.somaxconn", Netns: "web", Original: "4096", Written: "8192", Current: "8192",
			Apply: "20260301T120000Z-a1b2c3", Time: t0, Reason: "accept queue overflows", State: apply.StateDone},
		{Knob: "sysctl:net.ipv4.tcp_max_syn_backlog", Netns: "/proc/4242/ns/net", NetnsIno: 4026532990, NetnsOwner: dnsOwner,
			Original: "512", Written: "1024", Error: "netns /proc/4242/ns/net (pod kube-system/coredns-0) no longer exists",
			Apply: "20260301T120000Z-a1b2c3", Time: t0, Reason: "SYN queue overflows", State: apply.StateDone},
		{Knob: "sysctl:net.core.rmem_default", Original: "212992", Written: "425984", Current: "300000", Drift: true,
			Apply: "20260301T120000Z-a1b2c3", Time: t0, Reason: "UDP receive buffers overflow", State: apply.StateDone},
		{Knob: "ethtool-ring:eth0:rx", Original: "512", Written: "1024", Apply: "20260301T120000Z-a1b2c3", Time: t0,
			Reason: "rx ring overflows", State: "pending", Error: "no such device"},
		{Knob: "sysctl:net.core.netdev_max_backlog", Original: "1000", Written: "2000", Current: "2000", Persisted: "2000",
			Apply: "20260301T120000Z-a1b2c3", Time: t0, Reason: "backlog drops on cpu0", State: apply.StateDone},
		{Knob: "rps:eth0:rx-0", Original: "0", Written: "3", Current: "0", Drift: true, Persisted: "3",
			Apply: "20260301T120000Z-a1b2c3", Time: t0, Reason: "one CPU takes every packet of eth0", State: apply.StateDone},
		{Knob: "sysctl:net.core.rmem_max", Original: "212992", Written: "425984", Current: "425984",
			PersistNote: "/etc/sysctl.d/90-nettune.conf changed since nettune wrote it (checksum mismatch)",
			Apply:       "20260301T120000Z-a1b2c3", Time: t0, Reason: "UDP receive buffers overflow", State: apply.StateDone},
	}}
}

func autoRun() *apply.AutoResult {
	return &apply.AutoResult{Time: t0, ID: "20260301T120000Z-a1b2c3", Findings: 2, Actions: []apply.AutoAction{
		{Kind: "change", Knob: "sysctl:net.core.netdev_max_backlog", From: "1000", To: "2000", Why: "backlog drops on cpu0"},
		{Kind: "wait", Knob: "sysctl:net.core.somaxconn", Netns: "web", From: "4096", To: "8192", Why: "finding seen in 1 of 3 runs needed"},
		{Kind: "revert", Knob: "sysctl:net.core.rmem_default", From: "425984", To: "212992", Why: "udp-rcvbuf loss did not fall by 50% (120/s → 118/s)"},
		{Kind: "kept", Knob: "sysctl:net.ipv4.tcp_max_syn_backlog", Netns: "/proc/4242/ns/net", NetnsOwner: dnsOwner, From: "512", To: "1024",
			Why: "tcp-syn-queue loss fell from 40/s to 0/s"},
	}}
}

func dropFrame() pipeline.DropFrame {
	return pipeline.DropFrame{Time: t0, IntervalSeconds: 1, Drops: []pipeline.DropRow{
		{Reason: "SOCKET_RCVBUFF", Location: "__udp_enqueue_schedule_skb+0x2b0", Ifindex: 7, Link: "veth1", Netns: 4026532281, NetnsName: "web", Count: 1200, Rate: 1200},
		{Reason: "NO_SOCKET", Location: "__udp4_lib_rcv+0x9a", Ifindex: 7, Netns: 4026532281, NetnsName: "web", Count: 30, Rate: 30},
		{Reason: "NOT_SPECIFIED", Location: "sk_stream_kill_queues+0x55", Netns: 4026531840, NetnsName: "host", Count: 2, Rate: 2},
	}}
}

func features(full bool) bpf.Features {
	ok := bpf.Feature{OK: true}
	f := bpf.Features{BTF: ok, XDPLink: ok, TCX: ok, TPBTF: ok, DropReasons: ok, DropReasonCount: 121,
		DropLocations: ok, TestRun: ok, TCMode: "tcx", DropsMode: "tp_btf", XDPMode: "generic on veth, native elsewhere"}
	if !full {
		f.TCX = bpf.Feature{Reason: "tcx needs kernel 6.6"}
		f.DropReasons = bpf.Feature{Reason: "kfree_skb has no reason argument"}
		f.DropReasonCount = 0
		f.TCMode, f.DropsMode = "none", "raw_tracepoint"
	}
	return f
}

// unprobed is what check finds without root: BTF can be read, nothing can be loaded, and
// the modes that loading would decide are unknown.
func unprobed() bpf.Features {
	denied := bpf.Feature{Reason: "load xdp program: load program: operation not permitted"}
	unknown := "unknown (loading eBPF programs needs root)"
	return bpf.Features{BTF: bpf.Feature{OK: true}, XDPLink: denied,
		TCX:         bpf.Feature{Reason: "load SchedCLS program: load program: operation not permitted"},
		TPBTF:       bpf.Feature{Reason: "load tp_btf/kfree_skb: load program: operation not permitted"},
		DropReasons: bpf.Feature{OK: true}, DropReasonCount: 130, DropLocations: bpf.Feature{OK: true}, TestRun: denied,
		TCMode: unknown, DropsMode: unknown, XDPMode: "generic on veth, native elsewhere"}
}

// commands writes every command's outputs: name → what writes it in a format.
var commands = map[string]struct {
	formats []Format
	write   func(io.Writer, Format) error
}{
	"advise_loss":  {[]Format{FormatTable, FormatJSON, FormatPrometheus}, func(w io.Writer, f Format) error { return Advise(w, f, lossResult()) }},
	"advise_clean": {[]Format{FormatTable, FormatJSON, FormatPrometheus}, func(w io.Writer, f Format) error { return Advise(w, f, cleanResult()) }},
	"apply":        {[]Format{FormatTable, FormatJSON}, func(w io.Writer, f Format) error { return Apply(w, f, applySteps(false), lossResult().Report) }},
	"apply_dryrun": {[]Format{FormatTable, FormatJSON}, func(w io.Writer, f Format) error { return Apply(w, f, applySteps(true), lossResult().Report) }},
	"apply_dryrun_degraded": {[]Format{FormatTable, FormatJSON}, func(w io.Writer, f Format) error {
		res := applySteps(true)
		res.Degraded = "not checked against nettune's journal, which needs root to read (open /var/lib/nettune: permission denied): " +
			"a knob someone changed since nettune set it may show as a change"
		return Apply(w, f, res, lossResult().Report)
	}},
	"apply_loss_no_knob": {[]Format{FormatTable, FormatJSON}, func(w io.Writer, f Format) error {
		return Apply(w, f, &apply.Result{DryRun: true, Steps: []apply.Step{}}, lossResult().Report)
	}},
	"apply_nothing": {[]Format{FormatTable, FormatJSON}, func(w io.Writer, f Format) error {
		return Apply(w, f, &apply.Result{DryRun: true, Steps: []apply.Step{}}, cleanResult().Report)
	}},
	"apply_persist":  {[]Format{FormatTable, FormatJSON}, func(w io.Writer, f Format) error { return Apply(w, f, persistSteps(), lossResult().Report) }},
	"restore":        {[]Format{FormatTable, FormatJSON}, func(w io.Writer, f Format) error { return Restore(w, f, restoreSteps()) }},
	"restore_empty":  {[]Format{FormatTable, FormatJSON}, func(w io.Writer, f Format) error { return Restore(w, f, &apply.Result{Steps: []apply.Step{}}) }},
	"rollback":       {[]Format{FormatTable, FormatJSON}, func(w io.Writer, f Format) error { return Rollback(w, f, rollbackSteps()) }},
	"rollback_empty": {[]Format{FormatTable, FormatJSON}, func(w io.Writer, f Format) error { return Rollback(w, f, &apply.Result{Steps: []apply.Step{}}) }},
	"status":         {[]Format{FormatTable, FormatJSON}, func(w io.Writer, f Format) error { return Status(w, f, status()) }},
	"status_empty":   {[]Format{FormatTable, FormatJSON}, func(w io.Writer, f Format) error { return Status(w, f, &apply.Status{Knobs: []apply.KnobStatus{}}) }},
	"auto":           {[]Format{FormatTable, FormatJSON}, func(w io.Writer, f Format) error { return Auto(w, f, autoRun()) }},
	"auto_baseline": {[]Format{FormatTable, FormatJSON}, func(w io.Writer, f Format) error {
		return Auto(w, f, &apply.AutoResult{Time: t0, Baseline: "first run: sample saved, acting from the next run", Actions: []apply.AutoAction{}})
	}},
	"drops":       {[]Format{FormatTable, FormatJSON}, func(w io.Writer, f Format) error { return Drops(w, f, dropFrame(), DropsOptions{Top: 25}) }},
	"drops_top":   {[]Format{FormatTable}, func(w io.Writer, f Format) error { return Drops(w, f, dropFrame(), DropsOptions{Top: 1}) }},
	"drops_clear": {[]Format{FormatTable}, func(w io.Writer, f Format) error { return Drops(w, f, dropFrame(), DropsOptions{Top: 25, Clear: true}) }},
	"drops_quiet": {[]Format{FormatTable, FormatJSON}, func(w io.Writer, f Format) error {
		return Drops(w, f, pipeline.DropFrame{Time: t0, IntervalSeconds: 1, Drops: []pipeline.DropRow{}}, DropsOptions{Top: 25})
	}},
	"check_full":     {[]Format{FormatTable, FormatJSON}, func(w io.Writer, f Format) error { return Check(w, f, features(true), CheckFull) }},
	"check_degraded": {[]Format{FormatTable, FormatJSON}, func(w io.Writer, f Format) error { return Check(w, f, features(false), CheckDegraded) }},
	"check_unprobed": {[]Format{FormatTable, FormatJSON}, func(w io.Writer, f Format) error { return Check(w, f, unprobed(), CheckUnprobed) }},
}

var extension = map[Format]string{FormatTable: ".txt", FormatJSON: ".json", FormatPrometheus: ".prom"}

// Every format of every command is golden (go test ./render -update rewrites them); asking
// a command for a format it does not have is an error, not an empty output.
func TestCommandsGolden(t *testing.T) {
	for name, c := range commands {
		for _, f := range []Format{FormatTable, FormatJSON, FormatPrometheus} {
			var b bytes.Buffer
			err := c.write(&b, f)
			if !has(c.formats, f) {
				// Only advise has a Prometheus output; the table-only cases are variants
				// of the table (the JSON is the same as their command's).
				if f == FormatPrometheus && err == nil {
					t.Errorf("%s -o %s: no error for a format it does not have", name, f)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s -o %s: %v", name, f, err)
				continue
			}
			golden.Check(t, "testdata/commands/"+name+extension[f], b.Bytes())
		}
	}
}

func has(fs []Format, f Format) bool {
	for _, x := range fs {
		if x == f {
			return true
		}
	}
	return false
}

func TestParseFormat(t *testing.T) {
	if f, err := ParseFormat("json", FormatTable, FormatJSON); err != nil || f != FormatJSON {
		t.Errorf("json: %v, %v", f, err)
	}
	for _, bad := range []string{"text", "prometheus", "", "JSON"} {
		_, err := ParseFormat(bad, FormatTable, FormatJSON)
		if err == nil || err.Error() != `output: "`+bad+`" is not one of table, json` {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}
