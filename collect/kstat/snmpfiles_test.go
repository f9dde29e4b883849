package kstat

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Kept files read what ReadSNMP reads, every time.
func TestSNMPFilesFixture(t *testing.T) {
	for _, root := range []string{"testdata/vm-6.18/proc", "testdata/debian-5.10/proc"} {
		want, err := ReadSNMP(root)
		if err != nil {
			t.Fatal(err)
		}
		f, err := OpenSNMP(root)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			got, err := f.Read()
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("%s (-ReadSNMP +SNMPFiles):\n%s", root, d)
			}
		}
		f.Close()
	}
}

// A file longer than the first buffer is read whole; without snmp6 (IPv6 disabled) the rest
// is read; a malformed file is an error.
func TestSNMPFilesLongAndMissing(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "net")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	names, values := "Udp:", "Udp:"
	for i := range 4000 { // ~40 KiB of header
		names += " F" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
		values += " 1"
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("snmp", names+"\n"+values+"\n")
	write("netstat", "TcpExt: ListenDrops\nTcpExt: 3\n")
	f, err := OpenSNMP(root)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := f.Read()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4001 || got["TcpExt.ListenDrops"] != 3 || got["Udp.Faaa"] != 1 {
		t.Errorf("%d counters, ListenDrops %d", len(got), got["TcpExt.ListenDrops"])
	}
	write("netstat", "TcpExt: ListenDrops\n")
	if _, err := f.Read(); err == nil {
		t.Error("no error for a header without values")
	}
}

// Files that print the same text give the last map again; a change in any file, the last
// one too, gives a new map with the new values, and the old map keeps its own.
func TestSNMPFilesUnchangedReusesTheMap(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "net")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("snmp", "Udp: InDatagrams InErrors\nUdp: 10 1\n")
	write("netstat", "TcpExt: ListenDrops\nTcpExt: 3\n")
	write("snmp6", "Udp6InErrors 4\n")
	f, err := OpenSNMP(root)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	first, err := f.Read()
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.Read()
	if err != nil {
		t.Fatal(err)
	}
	if reflect.ValueOf(first).UnsafePointer() != reflect.ValueOf(again).UnsafePointer() {
		t.Error("unchanged files parsed into a new map")
	}
	write("snmp6", "Udp6InErrors 5\n")
	changed, err := f.Read()
	if err != nil {
		t.Fatal(err)
	}
	if changed["Udp6.InErrors"] != 5 || changed["Udp.InDatagrams"] != 10 || first["Udp6.InErrors"] != 4 {
		t.Errorf("after a change: %v (first %v)", changed, first)
	}
}

// ReadIdle reads snmp alone while it stands still, and everything once it moved.
func TestSNMPFilesReadIdle(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "net")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("snmp", "Udp: InDatagrams\nUdp: 10\n")
	write("netstat", "TcpExt: TW\nTcpExt: 3\n")
	f, err := OpenSNMP(root)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if m, err := f.ReadIdle(); err != nil || m["TcpExt.TW"] != 3 || f.Unchanged() {
		t.Fatalf("first ReadIdle: %v, %v, unchanged %v", m, err, f.Unchanged())
	}
	write("netstat", "TcpExt: TW\nTcpExt: 4\n") // a timer, no packet
	if m, err := f.ReadIdle(); err != nil || m["TcpExt.TW"] != 3 || !f.Unchanged() {
		t.Errorf("idle, snmp still: %v, %v, unchanged %v; want the last map", m, err, f.Unchanged())
	}
	if m, err := f.Read(); err != nil || m["TcpExt.TW"] != 4 || f.Unchanged() {
		t.Errorf("Read: %v, %v, unchanged %v; want netstat read", m, err, f.Unchanged())
	}
	write("snmp", "Udp: InDatagrams\nUdp: 11\n")
	write("netstat", "TcpExt: TW\nTcpExt: 5\n")
	if m, err := f.ReadIdle(); err != nil || m["TcpExt.TW"] != 5 || m["Udp.InDatagrams"] != 11 {
		t.Errorf("idle, snmp moved: %v, %v; want everything read", m, err)
	}
}
