package kstat

import (
	"strings"
	"testing"

	"github.com/nettune/nettune/model"
)

func TestReadSockstatFixture(t *testing.T) {
	// A namespace holding five listeners, 25 connections to a full accept queue and four
	// streams (testdata/README.md); the memory pools and tcp alloc are the host's.
	got, err := ReadSockstat("testdata/sockstat-6.18/proc")
	if err != nil {
		t.Fatal(err)
	}
	want := model.Sockstat{Sockets: 61, TCPInUse: 53, TCPAlloc: 60, UDPMem: 22, TCP6InUse: 6}
	if *got != want {
		t.Errorf("got %+v\nwant %+v", *got, want)
	}
	// Without IPv6 there is no sockstat6.
	dir := t.TempDir()
	copyFile(t, "testdata/sockstat-6.18/proc/thread-self/net/sockstat", dir+"/net/sockstat")
	if got, err := ReadSockstat(dir); err != nil || got.TCPInUse != 53 || got.TCP6InUse != 0 {
		t.Errorf("without sockstat6: %+v, %v", got, err)
	}
	if _, err := ReadSockstat(t.TempDir()); err == nil {
		t.Error("no sockstat: no error")
	}
}

func TestParseSockstat(t *testing.T) {
	got, err := ParseSockstat(strings.NewReader("sockets: used 3\nTCP: inuse 2 orphan 1 tw 4 alloc 9 mem -3 later 7\n" +
		"RAW: inuse 5\n\nFRAG: inuse 1 memory 4096\n"))
	if err != nil {
		t.Fatal(err)
	}
	// Unknown lines and names are skipped; a pool below zero (per-CPU reserves) is empty.
	want := model.Sockstat{Sockets: 3, TCPInUse: 2, TCPOrphan: 1, TCPTimeWait: 4, TCPAlloc: 9, FragInUse: 1, FragMemory: 4096}
	if *got != want {
		t.Errorf("got %+v\nwant %+v", *got, want)
	}
	for _, bad := range []string{"TCP inuse 2\n", "TCP: inuse\n", "TCP: inuse x\n", "UDP: mem 99999999999999999999\n"} {
		if _, err := ParseSockstat(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzParseSockstat(f *testing.F) {
	f.Add("sockets: used 61\nTCP: inuse 53 orphan 0 tw 0 alloc 60 mem 0\nUDP: inuse 0 mem 22\n")
	f.Add("TCP6: inuse 6\nFRAG6: inuse 0 memory 0\n")
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseSockstat(strings.NewReader(s))
		if err == nil && st == nil {
			t.Fatal("nil without an error")
		}
	})
}
