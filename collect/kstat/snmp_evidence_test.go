package kstat

import "testing"

// TestSNMPKeepsSocketEvidence: the counters the socket-memory, SYN-queue and retransmission
// rules read are in every fixture kernel's snmp/netstat, and ReadSNMP keeps them.
func TestSNMPKeepsSocketEvidence(t *testing.T) {
	keys := []string{
		"TcpExt.TCPMemoryPressures", "TcpExt.TCPMemoryPressuresChrono", "TcpExt.TCPReqQFullDrop",
		"TcpExt.TCPReqQFullDoCookies", "TcpExt.SyncookiesSent", "TcpExt.SyncookiesRecv", "TcpExt.SyncookiesFailed",
		"TcpExt.ListenOverflows", "TcpExt.ListenDrops", "Tcp.PassiveOpens", "Tcp.RetransSegs", "TcpExt.TCPLostRetransmit",
		"Udp.RcvbufErrors",
	}
	for _, root := range []string{"testdata/debian-5.10/proc", "testdata/debian-6.1/proc", "testdata/vm-6.18/proc"} {
		m, err := ReadSNMP(root)
		if err != nil {
			t.Fatalf("%s: %v", root, err)
		}
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				t.Errorf("%s: no %s", root, k)
			}
		}
		// Udp.MemErrors is newer than 5.10: a rule cannot count on it there.
		if _, ok := m["Udp.MemErrors"]; ok == (root == "testdata/debian-5.10/proc") {
			t.Errorf("%s: Udp.MemErrors present %v", root, ok)
		}
	}
}
