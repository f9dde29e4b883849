package kstat

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/nldump"
	"github.com/nettune/nettune/model"
)

const tcpFixture = "testdata/tcpdiag-6.18/sockdiag-"

// tcpReplay answers sock_diag TCP dumps from the captures of testdata/tcpdiag-6.18.
func tcpReplay(t *testing.T) *replay {
	key := func(fam uint8, states uint32, ext uint8) string {
		return fmt.Sprintf("tcp family %d states %#x ext %#x", fam, states, ext)
	}
	ext := uint8(1<<(inetDiagInfo-1) | 1<<(inetDiagCong-1) | 1<<(inetDiagSKMemInfo-1))
	return &replay{t: t, request: func(typ uint16, b []byte) string {
		if typ != unix.SOCK_DIAG_BY_FAMILY || len(b) != inetDiagReqLen || b[1] != unix.IPPROTO_TCP {
			return fmt.Sprintf("type %d, %d bytes", typ, len(b))
		}
		return key(b[0], binary.NativeEndian.Uint32(b[4:]), b[2])
	}, files: map[string]string{
		key(unix.AF_INET, 1<<tcpListen, 1<<(inetDiagSKMemInfo-1)):  tcpFixture + "listen4.bin",
		key(unix.AF_INET6, 1<<tcpListen, 1<<(inetDiagSKMemInfo-1)): tcpFixture + "listen6.bin",
		key(unix.AF_INET, retransStates, ext):                      tcpFixture + "conns4.bin",
		key(unix.AF_INET6, retransStates, ext):                     tcpFixture + "conns6.bin",
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

func TestReadTCPConnsFixture(t *testing.T) {
	// Two streams to 198.18.130.1:5201 through an nftables rule dropping one packet in five,
	// two connections from 198.18.130.1 and two over [::1] into receivers that shrank their
	// buffers to SO_RCVBUF 4096 after accept and never read (their senders on [::1]
	// retransmit too), and four idle connections, left out (testdata/README.md).
	got, err := ReadTCPConns(tcpReplay(t))
	if err != nil {
		t.Fatal(err)
	}
	stream := func(port, inode uint64, total, segs, rtt, cwnd uint32) model.TCPConn {
		return model.TCPConn{Local: fmt.Sprint("198.18.130.2:", port), Remote: "198.18.130.1:5201", Inode: inode, State: "established",
			TotalRetrans: total, SegsOut: segs, RTT: rtt, SndCwnd: cwnd, CC: "bbr"}
	}
	sender6 := func(port, inode uint64, rtt uint32) model.TCPConn {
		return model.TCPConn{Local: fmt.Sprint("[::1]:", port), Remote: "[::1]:5202", Inode: inode, State: "established",
			TotalRetrans: 3, SegsOut: 7, Retrans: 1, Lost: 1, RTT: rtt, SndCwnd: 1, CC: "bbr"}
	}
	receiver := func(local, remote string, inode, drops uint64) model.TCPConn {
		return model.TCPConn{Local: local, Remote: remote, Inode: inode, State: "established", Drops: drops, RcvBuf: 8192}
	}
	want := TCPConns{
		Retrans: []model.TCPConn{stream(41296, 25525219, 23900, 116993, 696, 143), stream(41308, 25525220, 22656, 110454, 974, 150),
			sender6(34582, 25525215, 70), sender6(34586, 25525216, 4)},
		Dropping: []model.TCPConn{receiver("198.18.130.2:5202", "198.18.130.1:48534", 25525211, 5),
			receiver("198.18.130.2:5202", "198.18.130.1:48536", 25525212, 5),
			receiver("[::1]:5202", "[::1]:34582", 25525217, 4), receiver("[::1]:5202", "[::1]:34586", 25525218, 4)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
}

// connAnswer is a captured answer of a connection with its inode, total_retrans and sk_drops
// replaced.
func connAnswer(t *testing.T, inode, total, drops uint32) []byte {
	m := slices.Clone(diagMessages(t, tcpFixture+"conns6.bin")[0])
	binary.NativeEndian.PutUint32(m[68:], inode)
	for a := m[inetDiagMsgLen:]; len(a) >= 4; {
		l := int(binary.NativeEndian.Uint16(a))
		switch binary.NativeEndian.Uint16(a[2:]) {
		case inetDiagInfo:
			binary.NativeEndian.PutUint32(a[4+tcpiTotalRetrans:], total)
		case inetDiagSKMemInfo:
			binary.NativeEndian.PutUint32(a[4+4*unix.SK_MEMINFO_DROPS:], drops)
		}
		a = a[(l+3)&^3:]
	}
	return m
}

func TestReadTCPConnsKeepsTheMost(t *testing.T) {
	var answers [][]byte
	for i := range 100 { // retransmissions 1..100 and drops 0..99, each in a scrambled order
		answers = append(answers, connAnswer(t, uint32(1000+i), uint32(i*37%100+1), uint32(i*71%100)))
	}
	got, err := ReadTCPConns(answersDump(answers))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Retrans) != MaxTCPRetrans || len(got.Dropping) != MaxTCPDropping || got.DroppingOmitted != 99-MaxTCPDropping {
		t.Fatalf("%d retransmitting, %d dropping connections (%d omitted), want %d, %d (%d)",
			len(got.Retrans), len(got.Dropping), got.DroppingOmitted, MaxTCPRetrans, MaxTCPDropping, 99-MaxTCPDropping)
	}
	for i, c := range got.Retrans {
		if c.TotalRetrans != uint32(100-i) || c.Drops != 0 {
			t.Errorf("retransmitting #%d: %d retransmissions, %d drops; want %d, none", i, c.TotalRetrans, c.Drops, 100-i)
		}
	}
	for i, c := range got.Dropping {
		if c.Drops != uint64(99-i) || c.TotalRetrans != 0 || c.RcvBuf != 8192 {
			t.Errorf("dropping #%d: %d drops, %d retransmissions, rcvbuf %d; want %d, none, 8192", i, c.Drops, c.TotalRetrans, c.RcvBuf, 99-i)
		}
	}
}

// A dump allocates for what it keeps, not for the connections it only looks at.
func TestReadTCPConnsAllocatesForKeptOnly(t *testing.T) {
	quiet := connAnswer(t, 7, 0, 0)
	if n := testing.AllocsPerRun(100, func() { _, _ = parseTCPDiag(quiet) }); n != 0 {
		t.Errorf("parseTCPDiag: %v allocations", n)
	}
	read := func(answers answersDump) func() {
		return func() {
			if _, err := ReadTCPConns(answers); err != nil {
				t.Fatal(err)
			}
		}
	}
	one := testing.AllocsPerRun(20, read(answersDump{quiet}))
	if many := testing.AllocsPerRun(20, read(slices.Repeat(answersDump{quiet}, 1000))); many != one {
		t.Errorf("%v allocations for 1 000 connections kept in neither list, %v for one", many, one)
	}
}

func TestParseTCPDiag(t *testing.T) {
	full := connAnswer(t, 7, 9, 11)
	s, err := parseTCPDiag(full)
	if err != nil || s.totalRetrans != 9 || s.segsOut == 0 || s.rtt == 0 || s.inode != 7 || s.drops != 11 || s.rcvBuf != 8192 {
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
	// An sk_meminfo that ends before SK_MEMINFO_DROPS (an older kernel's) leaves drops and
	// buffer 0.
	noDrops := slices.Clone(full)
	for a := noDrops[inetDiagMsgLen:]; len(a) >= 4; {
		l := int(binary.NativeEndian.Uint16(a))
		if binary.NativeEndian.Uint16(a[2:]) == inetDiagSKMemInfo {
			n := 4 + 4*unix.SK_MEMINFO_DROPS
			binary.NativeEndian.PutUint16(a, uint16(n))
			binary.NativeEndian.PutUint16(a[n:], uint16(l-n)) // the rest: an unknown attribute
			binary.NativeEndian.PutUint16(a[n+2:], 99)
			break
		}
		a = a[(l+3)&^3:]
	}
	if s, err := parseTCPDiag(noDrops); err != nil || s.drops != 0 || s.rcvBuf != 0 || s.totalRetrans != 9 {
		t.Errorf("sk_meminfo without drops: %+v, %v", s, err)
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
	for _, name := range []string{"listen4", "listen6", "conns4", "conns6"} {
		b, err := os.ReadFile(tcpFixture + name + ".bin")
		if err != nil {
			f.Fatal(err)
		}
		if _, _, err := nldump.Answers(b, 1, func(m []byte) error { f.Add(bytes.Clone(m)); return nil }); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseTCPDiag(b)
		if err != nil {
			return
		}
		if s.inode > math.MaxUint32 || s.drops > math.MaxUint32 {
			t.Fatalf("inode %d drops %d wider than the kernel's u32", s.inode, s.drops)
		}
		for _, a := range []string{addrPort(s.family, s.src, s.sport), addrPort(s.family, s.dst, s.dport)} {
			if _, err := netip.ParseAddrPort(a); err != nil {
				t.Fatalf("address %q: %v", a, err)
			}
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
