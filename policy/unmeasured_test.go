package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/nettune/nettune/model"
)

func TestUnmeasuredCoreCounters(t *testing.T) {
	full := func() *model.Sample {
		return &model.Sample{SNMP: map[string]uint64{"Udp.InDatagrams": 1}, Softnet: []model.SoftnetCPU{{}}}
	}
	d := &model.Delta{Interval: 10 * time.Second, Prev: full(), Cur: full()}
	if u := Analyze(d, DefaultConfig()).Unmeasured; u != nil {
		t.Fatalf("both samples complete: unmeasured %q", u)
	}
	d.Cur.SNMP = nil
	d.Prev.Softnet = nil
	u := Analyze(d, DefaultConfig()).Unmeasured
	if len(u) != 2 || !strings.Contains(u[0], "snmp") || !strings.Contains(u[1], "softnet_stat") {
		t.Fatalf("unmeasured %q", u)
	}
}
