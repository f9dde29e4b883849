package kstat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/nldump"
	"github.com/nettune/nettune/model"
)

const (
	udpFixture  = "testdata/udpsock-6.18/proc"
	diagFixture = "testdata/udpsock-6.18/sockdiag-udp"
)

// The fixtures were captured together in a netns of this VM (rmem_default 212992, rmem_max
// 4194304) after flooding: 127.0.0.1:5353 and [::1]:5353 never set SO_RCVBUF, 0.0.0.0:9000
// asked for 8192, the dual-stack [::]:9001 for 64 MiB (clamped); three sockets never dropped.
var fixtureSockets = []model.UDPSocket{
	{Local: "[::]:9001", Inode: 473689, Drops: 5360, RcvBuf: 8388608, RxQueue: 8386560},
	{Local: "127.0.0.1:5353", Inode: 473686, Drops: 908, RcvBuf: 212992, RxQueue: 211968},
	{Local: "[::1]:5353", Inode: 473688, Drops: 608, RcvBuf: 212992, RxQueue: 211968},
	{Local: "0.0.0.0:9000", Inode: 473687, Drops: 293, RcvBuf: 16384, RxQueue: 16128},
}

// capturedDump replays the captured sock_diag answers.
func capturedDump(t *testing.T) udpDumper {
	return func(families []uint8, fn func([]byte) error) error {
		if !reflect.DeepEqual(families, []uint8{unix.AF_INET, unix.AF_INET6}) {
			t.Errorf("families %v", families)
		}
		for _, name := range []string{"4", "6"} {
			for _, m := range diagMessages(t, diagFixture+name+".bin") {
				if err := fn(m); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// diagMessages splits a captured SOCK_DIAG_BY_FAMILY dump (request seq 1, the datagrams as
// received, back to back) into the answers' payloads.
func diagMessages(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	done, _, err := nldump.Answers(b, 1, func(m []byte) error { out = append(out, m); return nil })
	if !done || err != nil {
		t.Fatalf("%s: done %v, %v", path, done, err)
	}
	return out
}

func TestReadUDPSocketsFixture(t *testing.T) {
	got, err := readUDPSockets("testdata/nonexistent", capturedDump(t))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, fixtureSockets) {
		t.Errorf("got  %+v\nwant %+v", got, fixtureSockets)
	}
}

// Without sock_diag, /proc/net/udp{,6} gives the same sockets without their buffers.
func TestReadUDPSocketsFallsBackToProc(t *testing.T) {
	fail := errors.New("udp_diag missing")
	got, err := readUDPSockets(udpFixture, func([]uint8, func([]byte) error) error { return fail })
	if !errors.Is(err, fail) {
		t.Fatalf("err %v", err)
	}
	want := slices.Clone(fixtureSockets)
	for i := range want {
		want[i].RcvBuf = 0
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	root := t.TempDir() // IPv6 disabled: no udp6
	copyFile(t, udpFixture+"/net/udp", root+"/net/udp")
	if got, err = readUDPSockets(root, func([]uint8, func([]byte) error) error { return fail }); len(got) != 2 || !errors.Is(err, fail) {
		t.Errorf("without udp6: %+v, %v", got, err)
	}
	if _, err := readUDPSockets(t.TempDir(), func([]uint8, func([]byte) error) error { return fail }); !errors.Is(err, fail) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("neither source: %v", err)
	}
}

func TestReadUDPSocketsNoDrops(t *testing.T) {
	got, err := readUDPSockets("", func(_ []uint8, fn func([]byte) error) error {
		for _, m := range diagMessages(t, diagFixture+"4.bin") {
			m = slices.Clone(m)
			binary.NativeEndian.PutUint32(m[len(m)-4:], 0) // SK_MEMINFO_DROPS is the last field
			if err := fn(m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || got != nil {
		t.Fatalf("got %+v, %v", got, err)
	}
}

// udpLine is a /proc/net/udp line in udp4_format_sock's layout.
func udpLine(sl int, local string, inode, drops uint64) string {
	return fmt.Sprintf("%5d: %s 00000000:0000 07 00000000:00000100 00:00000000 00000000     0        0 %d 2 0000000000000000 %d\n",
		sl, local, inode, drops)
}

func TestParseUDPCapsByDrops(t *testing.T) {
	var b strings.Builder
	b.WriteString("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n")
	// 40 sockets with drops 1..40 in a scrambled order, and some that never dropped.
	for i := range 40 {
		d := uint64((i*17)%40 + 1)
		b.WriteString(udpLine(i, fmt.Sprintf("0200000A:%04X", 1000+d), 100+d, d))
		b.WriteString(udpLine(i, "0200000A:0001", 500+uint64(i), 0))
	}
	got, err := ParseUDP(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxUDPSockets {
		t.Fatalf("%d sockets, want %d", len(got), MaxUDPSockets)
	}
	for i, s := range got {
		d := uint64(40 - i)
		want := model.UDPSocket{Local: fmt.Sprintf("10.0.0.2:%d", 1000+d), Inode: 100 + d, Drops: d, RxQueue: 256}
		if s != want {
			t.Errorf("socket %d = %+v, want %+v", i, s, want)
		}
	}
}

func TestParseUDPErrors(t *testing.T) {
	header := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
	for name, in := range map[string]string{
		"header":        udpLine(1, "0100007F:0035", 1, 1),
		"columns":       header + "  1: 0100007F:0035 00000000:0000 07 00000000:00000000\n",
		"drops":         header + strings.Replace(udpLine(1, "0100007F:0035", 1, 1), " 1\n", " x\n", 1),
		"inode":         header + strings.Replace(udpLine(1, "0100007F:0035", 1, 1), " 1 2 ", " z 2 ", 1),
		"rx_queue":      header + strings.Replace(udpLine(1, "0100007F:0035", 1, 1), ":00000100", ":0000010G", 1),
		"local address": header + udpLine(1, "0100007F0035", 1, 1),
	} {
		if _, err := ParseUDP(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v", name, err)
		}
	}
}

func TestParseUDPFixture(t *testing.T) {
	f, err := os.Open(udpFixture + "/net/udp6")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ParseUDP(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []model.UDPSocket{
		{Local: "[::]:9001", Inode: 473689, Drops: 5360, RxQueue: 8386560},
		{Local: "[::1]:5353", Inode: 473688, Drops: 608, RxQueue: 211968},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestProcAddrPort(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:0035":                         "127.0.0.1:53",
		"00000000:2328":                         "0.0.0.0:9000",
		"00000000000000000000000001000000:14E9": "[::1]:5353",
		"0000000000000000FFFF00000200000A:0035": "[::ffff:10.0.0.2]:53",
		"B80D0120000000000000000001000000:01BB": "[2001:db8::1]:443",
	} {
		var s diagSocket
		if err := procAddrPort([]byte(in), &s); err != nil || s.local() != want {
			t.Errorf("%s = %s (%v), want %s", in, s.local(), err, want)
		}
	}
	for _, bad := range []string{"0100007F", "0100007:0035", "0100007F:10000", "0100007X:0035", "0100007F0035:1"} {
		if err := procAddrPort([]byte(bad), &diagSocket{}); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestParseUDPDiag(t *testing.T) {
	// Every socket of the capture, including the ones that never dropped.
	want := map[uint64]diagSocket{}
	for _, s := range fixtureSockets {
		var d diagSocket
		d.inode, d.drops, d.rcvBuf, d.rxQueue = s.Inode, s.Drops, s.RcvBuf, s.RxQueue
		want[s.Inode] = d
	}
	want[473690] = diagSocket{inode: 473690, rcvBuf: 212992}
	want[473691] = diagSocket{inode: 473691, rcvBuf: 212992}
	want[473692] = diagSocket{inode: 473692, rcvBuf: 212992}
	locals := map[uint64]string{473690: "127.0.0.1:35040", 473691: "0.0.0.0:33857", 473692: "[::]:49697"}
	for _, s := range fixtureSockets {
		locals[s.Inode] = s.Local
	}
	n := 0
	for _, name := range []string{"4", "6"} {
		for _, m := range diagMessages(t, diagFixture+name+".bin") {
			s, err := parseUDPDiag(m)
			if err != nil {
				t.Fatal(err)
			}
			n++
			if s.local() != locals[s.inode] {
				t.Errorf("inode %d: local %s, want %s", s.inode, s.local(), locals[s.inode])
			}
			w := want[s.inode]
			if s.drops != w.drops || s.rcvBuf != w.rcvBuf || s.rxQueue != w.rxQueue {
				t.Errorf("inode %d: %+v, want %+v", s.inode, s, w)
			}
		}
	}
	if n != len(want) {
		t.Errorf("%d answers, want %d", n, len(want))
	}

	msg := make([]byte, inetDiagMsgLen)
	attr := func(typ uint16, payload int) []byte {
		a := make([]byte, 4+payload)
		binary.NativeEndian.PutUint16(a, uint16(len(a)))
		binary.NativeEndian.PutUint16(a[2:], typ)
		return a
	}
	for name, tc := range map[string]struct {
		b    []byte
		want error
	}{
		"short inet_diag_msg":                {b: msg[:inetDiagMsgLen-1]},
		"only INET_DIAG_SHUTDOWN":            {b: slices.Concat(msg, attr(8, 1), []byte{0, 0, 0}), want: errNoDrops},
		"sk_meminfo before SK_MEMINFO_DROPS": {b: slices.Concat(msg, attr(inetDiagSKMemInfo, 4*8)), want: errNoDrops},
		"attribute past the end":             {b: slices.Concat(msg, attr(inetDiagSKMemInfo, 4*9)[:20])},
	} {
		_, err := parseUDPDiag(tc.b)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: error %v", name, err)
		}
	}
	ok := slices.Concat(msg, attr(8, 1), []byte{0, 0, 0}, attr(inetDiagSKMemInfo, 4*9))
	binary.NativeEndian.PutUint32(ok[len(ok)-4:], 7)
	if s, err := parseUDPDiag(ok); err != nil || s.drops != 7 {
		t.Errorf("padded attribute before sk_meminfo: %+v, %v", s, err)
	}
}
