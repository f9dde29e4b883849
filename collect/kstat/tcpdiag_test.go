package kstat

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/model"
)

const tcpFixture = "testdata/tcpdiag-6.18/sockdiag-"

// tcpReplay answers sock_diag TCP dumps from the captures of testdata/tcpdiag-6.18.
func tcpReplay(t *testing.T) *replay {
	key := func(fam uint8, states uint32, ext uint8) string {
		return fmt.Sprintf("tcp family %d states %#x ext %#x", fam, states, ext)
	}
	ext := uint8(1<<(inetDiagInfo-1) | 1<<(inetDiagCong-1))
	return &replay{t: t, request: func(typ uint16, b []byte) string {
		if typ != unix.SOCK_DIAG_BY_FAMILY || len(b) != inetDiagReqLen || b[1] != unix.IPPROTO_TCP {
			return fmt.Sprintf("type %d, %d bytes", typ, len(b))
		}
		return key(b[0], binary.NativeEndian.Uint32(b[4:]), b[2])
	}, files: map[string]string{
		key(unix.AF_INET, 1<<tcpListen, 1<<(inetDiagSKMemInfo-1)):  tcpFixture + "listen4.bin",
		key(unix.AF_INET6, 1<<tcpListen, 1<<(inetDiagSKMemInfo-1)): tcpFixture + "listen6.bin",
		key(unix.AF_INET, retransStates, ext):                      tcpFixture + "retrans4.bin",
		key(unix.AF_INET6, retransStates, ext):                     tcpFixture + "retrans6.bin",
	}}
}

func TestReadTCPListenersFixture(t *testing.T) {
	// listen(20) with 21 connections never accepted and 16 connection attempts refused;
	// two listen(16) servers, listen(128) with SO_RCVBUF, and listen(4096) on [::1]
	// (testdata/README.md).
	got, err := ReadTCPListeners(tcpReplay(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []model.TCPListener{
		{Local: "127.0.0.1:8080", Inode: 23126436, AcceptQueue: 21, Backlog: 20, Drops: 16},
		{Local: "127.0.0.1:5201", Inode: 23126437, Backlog: 16},
		{Local: "[::1]:5201", Inode: 23126438, Backlog: 16},
		{Local: "0.0.0.0:9000", Inode: 23126439, Backlog: 128},
		{Local: "[::1]:8443", Inode: 23126440, Backlog: 4096},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestReadTCPRetransFixture(t *testing.T) {
	// Streams to port 5201 whose packets an nftables rule dropped one in five, and
	// connects to the full listener on 8080 whose SYNs were dropped; 51 connections that
	// never retransmitted are left out.
	got, err := ReadTCPRetrans(tcpReplay(t))
	if err != nil {
		t.Fatal(err)
	}
	syn := func(port, inode uint64) model.TCPConn {
		return model.TCPConn{Local: fmt.Sprint("127.0.0.1:", port), Remote: "127.0.0.1:8080", Inode: inode, State: "syn-sent",
			TotalRetrans: 3, SegsOut: 4, Retrans: 1, Lost: 1, SndCwnd: 1, CC: "bbr"}
	}
	want := []model.TCPConn{
		syn(53220, 3365311), syn(53222, 3365312), syn(53226, 3365313), syn(53242, 3365314),
		{Local: "127.0.0.1:38510", Remote: "127.0.0.1:5201", Inode: 3365320, State: "established", TotalRetrans: 3, SegsOut: 15, RTT: 241, SndCwnd: 17, CC: "bbr"},
		{Local: "127.0.0.1:38504", Remote: "127.0.0.1:5201", Inode: 3365319, State: "established", TotalRetrans: 2, SegsOut: 11, RTT: 5686, SndCwnd: 10, CC: "bbr"},
		{Local: "[::1]:53442", Remote: "[::1]:5201", Inode: 3365322, State: "established", TotalRetrans: 2, SegsOut: 10, RTT: 197, SndCwnd: 15, CC: "bbr"},
		{Local: "[::1]:53452", Remote: "[::1]:5201", Inode: 3365324, State: "established", TotalRetrans: 2, SegsOut: 14, RTT: 682, SndCwnd: 17, CC: "bbr"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
}

// retransAnswer is a captured answer of a retransmitting connection with inode and
// total_retrans replaced.
func retransAnswer(t *testing.T, inode, total uint32) []byte {
	m := slices.Clone(diagMessages(t, tcpFixture+"retrans6.bin")[0])
	binary.NativeEndian.PutUint32(m[68:], inode)
	for a := m[inetDiagMsgLen:]; len(a) >= 4; {
		l := int(binary.NativeEndian.Uint16(a))
		if binary.NativeEndian.Uint16(a[2:]) == inetDiagInfo {
			binary.NativeEndian.PutUint32(a[4+tcpiTotalRetrans:], total)
		}
		a = a[(l+3)&^3:]
	}
	return m
}

func TestReadTCPRetransKeepsTheMost(t *testing.T) {
	var answers [][]byte
	for i := range 100 { // retransmissions 1..100 in a scrambled order
		answers = append(answers, retransAnswer(t, uint32(1000+i), uint32(i*37%100+1)))
	}
	got, err := ReadTCPRetrans(answersDump(answers))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxTCPRetrans {
		t.Fatalf("%d connections, want %d", len(got), MaxTCPRetrans)
	}
	for i, c := range got {
		if c.TotalRetrans != uint32(100-i) {
			t.Errorf("#%d: %d retransmissions, want %d", i, c.TotalRetrans, 100-i)
		}
	}
}

func TestParseTCPDiag(t *testing.T) {
	full := retransAnswer(t, 7, 9)
	s, err := parseTCPDiag(full)
	if err != nil || s.totalRetrans != 9 || s.segsOut == 0 || s.rtt == 0 || s.inode != 7 {
		t.Fatalf("%+v, %v", s, err)
	}
	// A tcp_info that ends before total_retrans (an older kernel's, shortened) leaves it 0.
	short := slices.Clone(full)
	for a := short[inetDiagMsgLen:]; len(a) >= 4; {
		l := int(binary.NativeEndian.Uint16(a))
		if binary.NativeEndian.Uint16(a[2:]) == inetDiagInfo {
			binary.NativeEndian.PutUint16(a, uint16(4+tcpiTotalRetrans))
			a = a[(4+tcpiTotalRetrans+3)&^3:]
			binary.NativeEndian.PutUint16(a, uint16(l-(4+tcpiTotalRetrans+3)&^3)) // the rest: an unknown attribute
			binary.NativeEndian.PutUint16(a[2:], 99)
			break
		}
		a = a[(l+3)&^3:]
	}
	if s, err := parseTCPDiag(short); err != nil || s.totalRetrans != 0 || s.rtt == 0 || s.cc[0] != 'b' {
		t.Errorf("short tcp_info: %+v, %v", s, err)
	}
	for name, b := range map[string][]byte{
		"short inet_diag_msg":    full[:inetDiagMsgLen-1],
		"attribute past the end": full[:inetDiagMsgLen+20],
	} {
		if _, err := parseTCPDiag(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzParseTCPDiag(f *testing.F) {
	f.Add(make([]byte, inetDiagMsgLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := parseTCPDiag(b); err == nil {
			_ = addrPort(s.family, s.src, s.sport)
		}
	})
}

// answersDump answers IPv4 dumps with its answers, IPv6 dumps with none.
type answersDump [][]byte

func (d answersDump) Dump(_ uint16, req []byte, fn func([]byte) error) (bool, error) {
	if req[0] != unix.AF_INET {
		return false, nil
	}
	for _, m := range d {
		if err := fn(m); err != nil {
			return false, err
		}
	}
	return false, nil
}
func (answersDump) Close() error { return nil }
