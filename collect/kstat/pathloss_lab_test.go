package kstat

import (
	"fmt"
	"testing"

	"github.com/nettune/nettune/internal/lab"
)

// TestSeesPathLoss: TCP from A loses packets in B (an XDP program there drops one in 16). A's
// own drop counters stay still; its retransmission reader names the connections and their
// peer.
func TestSeesPathLoss(t *testing.T) {
	v, _ := inject(t, lab.InjectPathLoss)
	a := in(t, v.A, nil)
	peer := fmt.Sprintf("%s:%d", v.BAddr, lab.PathLossPort)
	n := 0
	for _, c := range a.TCPRetrans {
		t.Logf("%+v", c)
		if c.Remote == peer && c.TotalRetrans > 0 && c.State == "established" && c.CC != "" {
			n++
		}
	}
	if n == 0 {
		t.Errorf("no retransmitting connection to %s: %+v", peer, a.TCPRetrans)
	}
	if a.SNMP["Tcp.RetransSegs"] == 0 {
		t.Error("A's Tcp.RetransSegs did not move")
	}
	for _, k := range []string{"TcpExt.TCPRcvQDrop", "TcpExt.TCPBacklogDrop", "TcpExt.TCPZeroWindowDrop", "TcpExt.TCPOFODrop",
		"Ip.InDiscards", "Ip.OutDiscards", "TcpExt.TCPMemoryPressures"} {
		if a.SNMP[k] != 0 {
			t.Errorf("A %s = %d: a local drop", k, a.SNMP[k])
		}
	}
	l, err := v.A.Handle(t).LinkByName(v.AName)
	if err != nil {
		t.Fatal(err)
	}
	if st := l.Attrs().Statistics; st.TxDropped != 0 || st.RxDropped != 0 {
		t.Errorf("A's veth dropped: tx %d, rx %d", st.TxDropped, st.RxDropped)
	}
}
