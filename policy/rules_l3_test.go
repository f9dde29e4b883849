package policy

import (
	"testing"

	"github.com/nettune/nettune/model"
)

// A UDP checksum error is counted by Udp.InCsumErrors, after Ip.InDelivers: the ip/headers
// finding reads it, and the drops observed must too (Check once failed every such report).
func TestTransportChecksumErrorsAreObserved(t *testing.T) {
	d := newDelta().snmp(map[string]uint64{"Ip.InReceives": 1100, "Ip.InDelivers": 1100, "Udp.InDatagrams": 1000,
		"Udp.InCsumErrors": 100}).build()
	r := analyze(t, d, DefaultConfig())
	if len(r.Findings) != 1 || r.Findings[0].ID != "ip/host/headers" || r.Findings[0].DropRate != 10 {
		t.Errorf("findings %+v", r.Findings)
	}
}

// Counters and drop reasons that disagree in opposite directions at two parts of a stage:
// each part is counted by the larger, so the drops observed are 90 + 40, not max(100, 100).
func TestObservedDropsCountEachPartOnce(t *testing.T) {
	d := newDelta().snmp(map[string]uint64{"Ip.InReceives": 1000, "IpExt.InNoRoutes": 90, "Ip.InHdrErrors": 10}).inPath(&model.InPath{
		Drops: []model.DropCount{
			{Reason: "IP_INNOROUTES", Location: "ip_route_input_slow+0x1", Count: 60},
			{Reason: "IP_INHDR", Location: "ip_rcv_core+0x1", Count: 40},
		}}).build()
	if got := observedDrops(d); got != 130 {
		t.Errorf("observed %d drops, want 130", got)
	}
	analyze(t, d, DefaultConfig())
}
