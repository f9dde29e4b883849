package kstat

import (
	"strings"
	"testing"
)

func TestReadSNMPFixtures(t *testing.T) {
	for _, tc := range []struct {
		root string
		keys int // header names in snmp+netstat, minus Tcp.MaxConn (-1), plus snmp6 lines
		want map[string]uint64
	}{
		{"testdata/vm-6.18/proc", 311 + 90, map[string]uint64{
			"Udp.InDatagrams": 84, "Udp.OutDatagrams": 85, "Udp.MemErrors": 0,
			"TcpExt.TCPBacklogDrop": 0, "IpExt.InOctets": 798657310, "Ip6.InReceives": 1,
			"Udp6.RcvbufErrors": 0, "MPTcpExt.MPCapableSYNRX": 0, "IpExt.InNoRoutes": 0,
		}},
		{"testdata/debian-6.1/proc", 283 + 89, map[string]uint64{
			"Ip.InReceives": 6, "IcmpMsg.InType8": 3, "Tcp.RtoMax": 120000,
			"TcpExt.TCPBacklogDrop": 0, "IpExt.InOctets": 504, "Ip6.InReceives": 4,
		}},
		{"testdata/debian-5.10/proc", 221 + 86, map[string]uint64{
			"Ip.InReceives": 6, "Ip.DefaultTTL": 64, "IcmpMsg.OutType0": 3,
			"TcpExt.TCPBacklogDrop": 0, "IpExt.InNoECTPkts": 6, "Ip6.InReceives": 4,
			"UdpLite6.InErrors": 0,
		}},
	} {
		got, err := ReadSNMP(tc.root)
		if err != nil {
			t.Fatalf("%s: %v", tc.root, err)
		}
		if len(got) != tc.keys {
			t.Errorf("%s: %d keys, want %d", tc.root, len(got), tc.keys)
		}
		for k, v := range tc.want {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("%s: %s = %d (present %v), want %d", tc.root, k, g, ok, v)
			}
		}
		if _, ok := got["Tcp.MaxConn"]; ok {
			t.Errorf("%s: Tcp.MaxConn (-1) kept", tc.root)
		}
	}
}

func TestParseSNMPErrors(t *testing.T) {
	for name, in := range map[string]string{
		"Udp":      "Udp: InDatagrams NoPorts\nUdp: 1 2 3\n",
		"TcpExt":   "Ip: Forwarding\nIp: 1\nTcpExt: SyncookiesSent\n",
		"IpExt":    "IpExt: InNoRoutes\nTcpExt: 0\n",
		"InErrors": "Udp: InDatagrams InErrors\nUdp: 1 x\n",
	} {
		_, err := ParseSNMP(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%q: error %v, want one naming %s", in, err, name)
		}
	}
}

func TestParseSNMPNegativeSkipped(t *testing.T) {
	m, err := ParseSNMP(strings.NewReader("Tcp: RtoMin MaxConn ActiveOpens\nTcp: 200 -1 7\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m["Tcp.RtoMin"] != 200 || m["Tcp.ActiveOpens"] != 7 {
		t.Fatalf("got %v", m)
	}
}

func TestParseSNMP6(t *testing.T) {
	m, err := ParseSNMP6(strings.NewReader("Ip6InReceives   \t12\nIcmp6OutType133  3\nUdpLite6InErrors 0\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"Ip6.InReceives": 12, "Icmp6.OutType133": 3, "UdpLite6.InErrors": 0}
	if len(m) != len(want) {
		t.Fatalf("got %v", m)
	}
	for k, v := range want {
		if g, ok := m[k]; !ok || g != v {
			t.Errorf("%s = %d (present %v), want %d", k, g, ok, v)
		}
	}
	for _, bad := range []string{"Ip6InReceives\n", "IpInReceives 1\n", "Ip6 1\n", "Ip6InReceives x\n"} {
		if _, err := ParseSNMP6(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestReadSNMPWithoutIPv6(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"snmp", "netstat"} {
		copyFile(t, "testdata/debian-5.10/proc/net/"+f, root+"/net/"+f)
	}
	m, err := ReadSNMP(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 221 {
		t.Fatalf("%d keys, want 221", len(m))
	}
}
