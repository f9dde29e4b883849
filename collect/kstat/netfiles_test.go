package kstat

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Kept files read what the readers that open them read, every time.
func TestNetFilesFixture(t *testing.T) {
	for _, root := range []string{"testdata/sockstat-6.18/proc", "testdata/conntrack-6.18/proc", "testdata/conntrack-4.19/proc"} {
		n := NewNetFiles(root)
		for range 2 {
			want, werr := ReadSockstat(root)
			got, err := n.Sockstat()
			if (err == nil) != (werr == nil) || cmp.Diff(want, got) != "" {
				t.Errorf("%s: sockstat %+v, %v; ReadSockstat %+v, %v", root, got, err, want, werr)
			}
			wantCT, werr := ReadConntrack(root)
			gotCT, err := n.Conntrack()
			if (err == nil) != (werr == nil) || cmp.Diff(wantCT, gotCT) != "" {
				t.Errorf("%s: conntrack %v, %v; ReadConntrack %v, %v", root, gotCT, err, wantCT, werr)
			}
		}
		n.Close()
	}
}

// A file that appears after it was found absent (a module loaded) is read within
// retryAbsent reads; a changed file is read anew.
func TestNetFilesAbsentThenPresent(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "net", "stat")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n := NewNetFiles(root)
	defer n.Close()
	if m, err := n.Conntrack(); m != nil || err != nil {
		t.Fatalf("absent conntrack: %v, %v", m, err)
	}
	b, err := os.ReadFile("testdata/conntrack-6.18/proc/thread-self/net/stat/nf_conntrack")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nf_conntrack"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range retryAbsent + 1 {
		m, err := n.Conntrack()
		if err != nil {
			t.Fatal(err)
		}
		if m != nil {
			t.Logf("found after %d reads", i+1)
			return
		}
	}
	t.Errorf("nf_conntrack created later is never read")
}

// A sockstat that changed is parsed anew; the copy handed out before keeps its values.
func TestNetFilesSockstatChanges(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "net")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(body string) {
		if err := os.WriteFile(filepath.Join(dir, "sockstat"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("sockets: used 5\nUDP: inuse 1 mem 2\n")
	n := NewNetFiles(root)
	defer n.Close()
	first, err := n.Sockstat()
	if err != nil {
		t.Fatal(err)
	}
	same, err := n.Sockstat()
	if err != nil || *same != *first || same == first {
		t.Fatalf("unchanged: %+v (%v), want a copy of %+v", same, err, first)
	}
	write("sockets: used 5\nUDP: inuse 1 mem 9\n")
	changed, err := n.Sockstat()
	if err != nil || changed.UDPMem != 9 || first.UDPMem != 2 {
		t.Errorf("changed: %+v (%v), first %+v", changed, err, first)
	}
}

// The conntrack table's entry count is the file's gauge column (the same on every CPU's
// row, as nf_conntrack_count prints it), not summed; none without the file.
func TestNetFilesConntrackEntries(t *testing.T) {
	for root, want := range map[string]uint64{"testdata/conntrack-6.18/proc": 0x40, "testdata/conntrack-4.19/proc": 0xf3a1, "testdata/sockstat-6.18/proc": 0} {
		n := NewNetFiles(root)
		ct, err := n.Conntrack()
		if err != nil {
			t.Fatal(err)
		}
		got, ok := n.ConntrackEntries()
		if got != want || ok != (ct != nil) {
			t.Errorf("%s: entries %d (%t), want %d", root, got, ok, want)
		}
		n.Close()
	}
}
