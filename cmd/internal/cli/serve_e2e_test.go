package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nettune/nettune/internal/lab"
)

// freePort returns a loopback port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startPrometheus runs the Debian prometheus binary on loopback with a temporary storage
// dir, scraping target every second and evaluating configs/prometheus/alerts.yaml every
// second. It is killed when the test ends and returns its base URL once it is ready.
func startPrometheus(ctx context.Context, t *testing.T, target string) string {
	t.Helper()
	bin := needTool(t, "prometheus", "prometheus")
	rules, err := filepath.Abs("../../../configs/prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: nettune
    static_configs:
      - targets: [%q]
`, rules, target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.CommandContext(ctx, bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	waitFor(ctx, t, "prometheus ready", func() (bool, string) {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	return base
}

// waitFor polls cond every 500 ms until it holds or ctx ends (then the test fails with the
// last state cond reported).
func waitFor(ctx context.Context, t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		select {
		case <-ctx.Done():
			t.Fatalf("%s: gave up: %s", what, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// promAPI gets a Prometheus HTTP API path and decodes its data field into v.
func promAPI(base, path string, v any) error {
	resp, err := http.Get(base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return err
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s", path, env.Error)
	}
	return json.Unmarshal(env.Data, v)
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// TestServePrometheusEndToEnd: a real Prometheus scrapes nettune serve while a lab namespace
// drops UDP at its receive buffers; the udp-rcvbuf drop rate reaches Prometheus and the
// paging rule goes pending. Cancelling serve detaches every probe.
func TestServePrometheusEndToEnd(t *testing.T) {
	lab.RequireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	a, b := lab.NewNS(t, "ntpa"), lab.NewNS(t, "ntpb")
	v := lab.NewVeth(t, a, b, lab.VethOpts{})
	links := lab.BPFLinkFDs(t)

	port := freePort(t)
	serveCtx, stopServe := context.WithCancel(ctx)
	var stderr syncBuffer
	var serveErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		serveErr = Execute(serveCtx, []string{"serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port),
			"--interval", "1s", "--netns", b.Name}, Streams{Out: io.Discard, Err: &stderr})
	}()
	defer func() {
		stopServe()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	}()
	waitFor(ctx, t, "serve listening", func() (bool, string) {
		select {
		case <-done:
			t.Fatalf("serve ended early: %v\n%s", serveErr, stderr.String())
		default:
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	during := lab.BPFLinkFDs(t)
	attached := during > links
	t.Logf("bpf links open: %d before serve, %d while serving", links, during)
	if !attached {
		t.Logf("no probe attached (counters only): %s", stderr.String())
	}

	floodCtx, stopFlood := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := lab.InjectUDPRcvbuf(floodCtx, t, v); err != nil {
			t.Errorf("inject: %v", err)
		}
	})
	defer func() {
		stopFlood()
		wg.Wait()
	}()

	base := startPrometheus(ctx, t, fmt.Sprintf("127.0.0.1:%d", port))
	positive := func(query string) func() (bool, string) {
		return func() (bool, string) {
			var res struct {
				Result []promSample `json:"result"`
			}
			if err := promAPI(base, "/api/v1/query?query="+url.QueryEscape(query), &res); err != nil {
				return false, err.Error()
			}
			for _, s := range res.Result {
				if v, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64); v > 0 {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%+v", res.Result)
		}
	}
	waitFor(ctx, t, "udp-rcvbuf drop rate in prometheus",
		positive(fmt.Sprintf(`rate(nettune_funnel_dropped_packets_total{stage="udp-rcvbuf",netns=%q}[5s])`, b.Name)))
	if attached {
		waitFor(ctx, t, "SOCKET_RCVBUFF drop reason in prometheus",
			positive(`rate(nettune_drop_reason_packets_total{reason="SOCKET_RCVBUFF"}[5s])`))
	}
	waitFor(ctx, t, "NettunePacketLossCritical pending or firing", func() (bool, string) {
		var res struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		}
		if err := promAPI(base, "/api/v1/alerts", &res); err != nil {
			return false, err.Error()
		}
		for _, a := range res.Alerts {
			if a.Labels["alertname"] == "NettunePacketLossCritical" && a.Labels["stage"] == "udp-rcvbuf" &&
				(a.State == "pending" || a.State == "firing") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", res.Alerts)
	})

	stopServe()
	select {
	case <-done:
		if serveErr != nil {
			t.Fatalf("serve after cancel: %v", serveErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop within 10s of cancel")
	}
	if n := lab.BPFLinkFDs(t); n != links {
		t.Errorf("%d bpf links still open after serve stopped, want %d (attached during serve: %v)", n, links, attached)
	}
}

// syncBuffer is a strings.Builder safe for the serve goroutine and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeRemediateRunsAuto: with --remediate every interval goes through the applier's auto
// mode, which keeps its baseline sample and state in the state dir. The namespace has no loss,
// so nothing is changed.
func TestServeRemediateRunsAuto(t *testing.T) {
	lab.RequireRoot(t)
	ns := lab.NewNS(t, "ntrm")
	state := t.TempDir()
	t.Setenv("NETTUNE_APPLY_STATE_DIR", state)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	serveCtx, stop := context.WithCancel(ctx)
	var stderr syncBuffer
	var serveErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		serveErr = Execute(serveCtx, []string{"serve", "--remediate", "--no-bpf", "--listen", "127.0.0.1:0",
			"--interval", "200ms", "--netns", ns.Name}, Streams{Out: io.Discard, Err: &stderr})
	}()
	waitFor(ctx, t, "auto state written", func() (bool, string) {
		select {
		case <-done:
			t.Fatalf("serve ended early: %v\n%s", serveErr, stderr.String())
		default:
		}
		_, err1 := os.Stat(filepath.Join(state, "baseline.bin"))
		_, err2 := os.Stat(filepath.Join(state, "auto.json"))
		if err1 != nil || err2 != nil {
			return false, fmt.Sprintf("%v; %v", err1, err2)
		}
		return true, ""
	})
	stop()
	<-done
	if serveErr != nil {
		t.Fatalf("serve: %v\n%s", serveErr, stderr.String())
	}
	if b, _ := os.ReadFile(filepath.Join(state, "journal.jsonl")); len(b) > 0 {
		t.Errorf("remediation changed something in a namespace without loss:\n%s", b)
	}
}
