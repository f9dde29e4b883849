package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
	"github.com/nettune/nettune/render"
)

const configsDir = "../../../configs"

// commandErrors says what is wrong with args (a nettune command line without the program
// name): an unknown subcommand or flags the subcommand does not have.
func commandErrors(args []string) []string {
	root := newRoot(Streams{Out: io.Discard, Err: io.Discard})
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == root {
		return []string{fmt.Sprintf("%q is not a nettune command", strings.Join(args, " "))}
	}
	var errs []string
	for _, a := range rest {
		name, _, _ := strings.Cut(a, "=")
		switch {
		case strings.HasPrefix(name, "--"):
			if cmd.Flag(strings.TrimPrefix(name, "--")) == nil {
				errs = append(errs, fmt.Sprintf("nettune %s has no flag %s", cmd.Name(), name))
			}
		case strings.HasPrefix(name, "-") && len(name) == 2:
			if cmd.Flags().ShorthandLookup(name[1:]) == nil && cmd.InheritedFlags().ShorthandLookup(name[1:]) == nil {
				errs = append(errs, fmt.Sprintf("nettune %s has no flag %s", cmd.Name(), name))
			}
		}
	}
	return errs
}

func checkCommand(t *testing.T, where string, args []string) {
	t.Helper()
	for _, e := range commandErrors(args) {
		t.Errorf("%s: %s", where, e)
	}
}

// commandLine is a nettune command line, either quoted (`nettune ...`) or run by path
// (/usr/local/bin/nettune ...).
var commandLine = regexp.MustCompile("(?:`|/)nettune((?: +[^\\s`|;&>]+)+)")

// nettuneCommands returns the arguments of every command line in text.
func nettuneCommands(text string) [][]string {
	var out [][]string
	for _, m := range commandLine.FindAllStringSubmatch(text, -1) {
		out = append(out, strings.Fields(m[1]))
	}
	return out
}

type daemonSet struct {
	Kind string `yaml:"kind"`
	Spec struct {
		Template struct {
			Spec struct {
				HostNetwork bool `yaml:"hostNetwork"`
				Containers  []struct {
					Command []string `yaml:"command"`
					Args    []string `yaml:"args"`
					Ports   []struct {
						ContainerPort int `yaml:"containerPort"`
					} `yaml:"ports"`
					SecurityContext struct {
						Privileged   *bool `yaml:"privileged"`
						Capabilities struct {
							Add  []string `yaml:"add"`
							Drop []string `yaml:"drop"`
						} `yaml:"capabilities"`
					} `yaml:"securityContext"`
					VolumeMounts []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
						ReadOnly  bool   `yaml:"readOnly"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
				Volumes []struct {
					Name     string `yaml:"name"`
					HostPath *struct {
						Path string `yaml:"path"`
					} `yaml:"hostPath"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func readDaemonSet(t *testing.T) *daemonSet {
	t.Helper()
	f, err := os.Open(filepath.Join(configsDir, "kubernetes", "daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	for {
		var ds daemonSet
		err := dec.Decode(&ds)
		if errors.Is(err, io.EOF) {
			t.Fatal("no DaemonSet in daemonset.yaml")
		}
		if err != nil {
			t.Fatal(err)
		}
		if ds.Kind == "DaemonSet" {
			return &ds
		}
	}
}

// TestDaemonSet checks the manifest against the command it runs and the paths nettune reads.
func TestDaemonSet(t *testing.T) {
	ds := readDaemonSet(t)
	pod := ds.Spec.Template.Spec
	if !pod.HostNetwork {
		t.Error("hostNetwork must be true: nettune measures the node's namespace")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	args := append(slices.Clone(c.Command[min(1, len(c.Command)):]), c.Args...)
	checkCommand(t, "daemonset", args)
	if args[0] != "serve" || slices.Contains(args, "--remediate") {
		t.Errorf("args %q: the shipped DaemonSet is advise-only (serve without --remediate)", args)
	}
	if i := slices.Index(args, "--listen"); i < 0 || !strings.HasSuffix(args[i+1], ":9617") ||
		len(c.Ports) != 1 || c.Ports[0].ContainerPort != 9617 {
		t.Errorf("--listen and containerPort must agree on 9617: args %q, ports %v", args, c.Ports)
	}

	sc := c.SecurityContext
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("privileged: advise-only needs capabilities, not privileged")
	}
	if !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Error("capabilities must drop ALL and add back only what nettune uses")
	}
	for _, cp := range sc.Capabilities.Add {
		if !slices.Contains([]string{"BPF", "PERFMON", "NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE"}, cp) {
			t.Errorf("capability %s: serve over every namespace needs only BPF, PERFMON, NET_ADMIN, SYS_ADMIN, SYS_PTRACE", cp)
		}
	}

	// Every host path is one nettune reads, mounted where nettune looks for it.
	read := []string{"/proc", "/sys", "/sys/fs/bpf", "/run/netns", "/var/lib/nettune"}
	host := map[string]string{}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			host[v.Name] = v.HostPath.Path
			if !slices.Contains(read, v.HostPath.Path) {
				t.Errorf("volume %s mounts host %s, which nettune does not read", v.Name, v.HostPath.Path)
			}
		}
	}
	for _, m := range c.VolumeMounts {
		p, ok := host[m.Name]
		if !ok {
			continue
		}
		if m.MountPath != p {
			t.Errorf("host %s mounted at %s: nettune reads it at %s", p, m.MountPath, p)
		}
		if p == "/var/lib/nettune" && !m.ReadOnly {
			t.Error("the state dir must be read-only without --remediate")
		}
		delete(host, m.Name)
	}
	for name := range host {
		t.Errorf("volume %s is never mounted", name)
	}
}

// TestShippedCommandsExist: every nettune command line in the shipped configs (systemd,
// cron, alert runbooks) names a real command and real flags.
func TestShippedCommandsExist(t *testing.T) {
	n := 0
	for _, name := range []string{"nettune.service", "nettune.cron", "prometheus/alerts.yaml"} {
		b, err := os.ReadFile(filepath.Join(configsDir, name))
		if err != nil {
			t.Fatal(err)
		}
		// Alert templates: {{ with $labels.netns }} --netns {{ . }}{{ end }} keeps the flag.
		text := regexp.MustCompile(`\{\{[^}]*\}\}`).ReplaceAllString(string(b), " x ")
		sc := bufio.NewScanner(strings.NewReader(text))
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			for _, args := range nettuneCommands(line) {
				checkCommand(t, name, args)
				n++
			}
		}
	}
	if n < 5 {
		t.Errorf("found only %d nettune commands in the shipped configs", n)
	}
}

func TestNettuneCommands(t *testing.T) {
	got := nettuneCommands("run `nettune advise --netns x` then ExecStart=/usr/local/bin/nettune apply --auto | logger; " +
		"nettune names the knob; nettune_loss; /usr/share/doc/nettune/apply.md")
	want := [][]string{{"advise", "--netns", "x"}, {"apply", "--auto"}}
	if !slices.EqualFunc(got, want, slices.Equal[[]string]) {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, bad := range [][]string{{"serve", "--no-such-flag"}, {"serve", "-Z"}, {"no-such-command"}} {
		if len(commandErrors(bad)) == 0 {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, good := range [][]string{{"serve", "--listen", "x", "--config", "y", "--interval=1s"}, {"advise", "-o", "json"}} {
		if errs := commandErrors(good); len(errs) > 0 {
			t.Errorf("%q rejected: %v", good, errs)
		}
	}
}

// metricNames is every metric name serve can expose: all optional report series and the
// server's own.
func metricNames(t *testing.T) map[string]bool {
	t.Helper()
	attr := 0.9
	q := 0
	r := &policy.Report{
		Attribution: &attr,
		Findings:    []policy.Finding{{Stage: stage.UDPRcvbuf, Class: stage.ClassCapacity, DropRate: 1}},
		Funnel: []policy.Funnel{{Interface: "eth0", Dir: "rx", Stages: []policy.FunnelStage{{Stage: stage.RxRing, Known: true}}},
			{Interface: "eth0", Dir: "rx", Queue: &q, Stages: []policy.FunnelStage{{Stage: stage.RxRing, Known: true}}}},
	}
	drops := &model.InPath{Drops: []model.DropCount{{Reason: "NO_SOCKET", Count: 1}}}
	cur := &model.Sample{Time: time.Unix(1, 0), InPath: drops,
		Links: []model.Link{{Name: "eth0", Index: 2, Stats: model.LinkStats{RxPackets: 1}}},
		SNMP:  map[string]uint64{"Ip.InReceives": 1, "Ip.InDelivers": 1, "Udp.InDatagrams": 1, "Udp.RcvbufErrors": 1}}
	d := &model.Delta{Interval: time.Second, Cur: cur, InPath: drops}
	s := testServer(t, serveFlags{remediate: true})
	s.autoActions.WithLabelValues("change").Inc()
	names := map[string]bool{}
	// serve's counters, and advise's rates of drop reasons (the textfile).
	for _, probes := range []bool{true, false} {
		ms := render.Metrics(&pipeline.Result{Report: r, Delta: d}, render.MetricOptions{PerQueue: true,
			ProbeTotals: probes, Overhead: &render.Overhead{}, Applied: []render.AppliedChange{{Knob: "sysctl:x"}}})
		s.report.set(func() []prometheus.Metric { return ms })
		for name := range gather(t, s) {
			names[name] = true
		}
	}
	return names
}

// TestConfigsUseServedMetrics: the alert rules and the dashboard query only series nettune
// exposes, so a renamed metric cannot silently empty a panel or an alert.
func TestConfigsUseServedMetrics(t *testing.T) {
	names := metricNames(t)
	for _, name := range []string{"prometheus/alerts.yaml", "grafana/nettune.json"} {
		b, err := os.ReadFile(filepath.Join(configsDir, name))
		if err != nil {
			t.Fatal(err)
		}
		used := regexp.MustCompile(`\b(?:nettune|process|go)_[a-z_]+[a-z]`).FindAllString(string(b), -1)
		if len(used) == 0 {
			t.Errorf("%s uses no nettune metric", name)
		}
		for _, m := range used {
			if !names[m] {
				t.Errorf("%s uses %s, which nettune does not expose", name, m)
			}
		}
	}
}

func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(configsDir, "grafana", "nettune.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Type    string           `json:"type"`
			Title   string           `json:"title"`
			Targets []map[string]any `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if d.UID == "" {
		t.Error("dashboard has no uid (provisioning needs one)")
	}
	funnel := false
	for _, p := range d.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.Contains(tg["expr"].(string), "nettune_funnel_in_packets_total") {
				funnel = true
			}
		}
	}
	if !funnel {
		t.Error("no panel shows the funnel")
	}
}

// TestAlertRules runs promtool on the shipped rules: syntax, then the unit tests in
// testdata/alerts_test.yaml (capacity pages, benign is info, thresholds, runbook text).
func TestAlertRules(t *testing.T) {
	tool := needTool(t, "promtool", "prometheus")
	for _, args := range [][]string{
		{"check", "rules", filepath.Join(configsDir, "prometheus", "alerts.yaml")},
		{"test", "rules", filepath.Join("testdata", "alerts_test.yaml")},
	} {
		out, err := exec.Command(tool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
