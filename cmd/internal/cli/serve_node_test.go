package cli

import (
	"context"
	"io"
	"strconv"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/nettune/nettune/internal/lab"
)

// serve without --netns over the node: a namespace whose UDP receiver overflows gets series
// of its own, named by its ip netns name; quiet ones get none; one deleted during an interval
// is left out without a sample error, and one created during it is examined from the next.
func TestServeNodeNamesTheLossyNamespace(t *testing.T) {
	lab.RequireRoot(t)
	a, b := lab.NewNS(t, "nsa"), lab.NewNS(t, "nsb")
	quiet := lab.NewNS(t, "nsq")
	doomed, doomedPath := lab.UnshareNet(t)
	doomedIno := lab.Inode(t, doomedPath)
	v := lab.NewVeth(t, a, b, lab.VethOpts{})

	cfg := DefaultConfig()
	cfg.BPF.Enabled = false
	cfg.Interval = time.Second
	cfg.Apply.StateDir = t.TempDir()
	s, err := newServer(cfg, serveFlags{}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if s.node == nil {
		t.Fatal("serve without --netns does not examine the node")
	}
	if err := s.baseline(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	if _, err := lab.InjectUDPRcvbuf(ctx, t, v); err != nil {
		t.Fatal(err)
	}
	_ = doomed.Process.Kill()
	_ = doomed.Wait()
	late := lab.NewNS(t, "nsl")
	s.interval(t.Context())

	mfs := gather(t, s)
	if n := counterValue(mfs["nettune_sample_errors_total"]); n != 0 {
		t.Fatalf("%v sample errors", n)
	}
	states := map[string]float64{}
	for _, m := range mfs["nettune_namespaces"].GetMetric() {
		states[labelsOf(m)["state"]] = m.GetGauge().GetValue()
	}
	if states["examined"] < 4 || states["lossy"] < 1 || states["vanished"] < 1 || states["appeared"] < 1 {
		t.Errorf("nettune_namespaces %v: want ≥ 4 examined (host, a, b, quiet), ≥ 1 lossy, vanished, appeared", states)
	}
	if g := mfs["nettune_loss"].GetMetric()[0].GetGauge().GetValue(); g != 1 {
		t.Errorf("nettune_loss = %v over a node with a lossy namespace", g)
	}
	named := map[string]float64{}
	for _, m := range mfs["nettune_netns_loss"].GetMetric() {
		named[labelsOf(m)["netns"]] = m.GetGauge().GetValue()
	}
	if named[b.Name] != 1 {
		t.Errorf("nettune_netns_loss %v: want %s = 1", named, b.Name)
	}
	for _, ns := range []string{quiet.Name, late.Name, strconv.FormatUint(doomedIno, 10)} {
		if _, ok := named[ns]; ok {
			t.Errorf("namespace %s without loss has series", ns)
		}
	}
	found := false
	for _, m := range mfs["nettune_netns_finding_drop_packets_per_second"].GetMetric() {
		l := labelsOf(m)
		found = found || l["netns"] == b.Name && l["stage"] == "udp-rcvbuf" && m.GetGauge().GetValue() > 0
	}
	if !found {
		t.Errorf("no udp-rcvbuf finding series for %s", b.Name)
	}

	// The namespace created during the interval is examined in the next one.
	s.interval(t.Context())
	mfs = gather(t, s)
	if n := counterValue(mfs["nettune_sample_errors_total"]); n != 0 {
		t.Fatalf("%v sample errors", n)
	}
	next := map[string]float64{}
	for _, m := range mfs["nettune_namespaces"].GetMetric() {
		next[labelsOf(m)["state"]] = m.GetGauge().GetValue()
	}
	if next["examined"] < states["examined"]+1-next["vanished"] {
		t.Errorf("nettune_namespaces %v after %v: the namespace %s that appeared is not examined", next, states, late.Name)
	}
}

func counterValue(mf *dto.MetricFamily) float64 {
	if mf == nil || len(mf.GetMetric()) == 0 {
		return 0
	}
	return mf.GetMetric()[0].GetCounter().GetValue()
}
