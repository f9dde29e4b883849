package kstat

import (
	"context"
	"testing"
	"time"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/model"
)

// softnetCPU reads the host's softnet_stat row of cpu.
func softnetCPU(t *testing.T, cpu int) model.SoftnetCPU {
	t.Helper()
	rows, err := ReadSoftnet("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.CPU == cpu {
			return r
		}
	}
	t.Fatalf("no softnet_stat row for cpu %d", cpu)
	return model.SoftnetCPU{}
}

// TestSeesTimeSqueeze: with netdev_budget below the backlog's weight, every GSO burst that
// reaches the backlog ends a softirq round early (time_squeeze on the sending CPU), and the
// backlog, deep enough, drops nothing. The same bursts with the budget restored squeeze
// (far) less: the measured contrast is logged.
func TestSeesTimeSqueeze(t *testing.T) {
	lab.RequireRoot(t)
	cpu, err := lab.SqueezeCPU()
	if err != nil {
		t.Skip(err)
	}
	before := softnetCPU(t, cpu)
	v, r := inject(t, lab.InjectSqueeze)
	after := softnetCPU(t, cpu)
	squeezed, dropped := after.TimeSqueeze-before.TimeSqueeze, after.Dropped-before.Dropped
	bursts := r.Sent / lab.GSOSegments
	t.Logf("cpu %d: %d bursts, time_squeeze +%d, dropped +%d, processed +%d", cpu, bursts, squeezed, dropped, after.Processed-before.Processed)
	if squeezed < uint32(bursts)/2 {
		t.Errorf("time_squeeze +%d for %d bursts at netdev_budget %d", squeezed, bursts, lab.SqueezeBudget)
	}
	if dropped != 0 {
		t.Errorf("cpu %d dropped %d: the backlog must hold the bursts", cpu, dropped)
	}
	l, err := v.B.Handle(t).LinkByName(v.BName)
	if err != nil {
		t.Fatal(err)
	}
	if d := l.Attrs().Statistics.RxDropped; d != 0 {
		t.Errorf("B's veth rx_dropped %d", d)
	}

	// The contrast, with the host's own budget.
	before = softnetCPU(t, cpu)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	sink := lab.UDPSink(t, v.B, v.BAddr+":0", lab.SinkOpts{RcvBuf: 4 << 20, Read: true})
	r, err = lab.GSOFlood(ctx, v.A, sink.Addr(), cpu, lab.SqueezeGap, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	after = softnetCPU(t, cpu)
	t.Logf("default budget: %d bursts, time_squeeze +%d, dropped +%d", r.Sent/lab.GSOSegments, after.TimeSqueeze-before.TimeSqueeze, after.Dropped-before.Dropped)
}
