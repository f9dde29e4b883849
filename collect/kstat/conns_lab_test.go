package kstat

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/internal/lab"
)

// TestSeesDroppingConnections: B's receiver shrinks its connections' buffers once it has
// accepted them and never reads (lab.InjectTCPRcvbuf). The connection reader names each of
// them with A as its peer and the buffer SO_RCVBUF gave, and their drops together are the
// segments B's TCP drop counters counted: TCPRcvQDrop for an in-window segment the buffer
// refused (RcvPruned counts the failed prune before it, not another segment), TCPOFODrop and
// TCPZeroWindowDrop, and since 6.17 BeyondWindow for the segments past the window the
// receiver pulled in. Before 6.17 those are discarded uncounted: the drops are then at least
// the counters. Each connection's holder is found by its inode, as the pipeline names a
// finding's sockets.
func TestSeesDroppingConnections(t *testing.T) {
	v, _ := inject(t, lab.InjectTCPRcvbuf)
	b := in(t, v.B, nil)
	local := fmt.Sprintf("%s:%d", v.BAddr, lab.TCPRcvbufPort)
	var drops uint64
	var inodes []uint64
	for _, c := range b.TCPDropping {
		t.Logf("%+v", c)
		if c.Local != local || !strings.HasPrefix(c.Remote, v.AAddr+":") || c.State != "established" || c.Inode == 0 ||
			c.RcvBuf != 2*lab.TCPRcvBuf || c.Drops == 0 {
			t.Errorf("connection %+v: want %s from %s, established, with an inode, rcvbuf %d and drops", c, local, v.AAddr, 2*lab.TCPRcvBuf)
		}
		drops += c.Drops
		inodes = append(inodes, c.Inode)
	}
	if len(b.TCPDropping) != lab.TCPRcvbufConns || b.TCPDroppingOmitted != 0 {
		t.Errorf("%d dropping connections (%d omitted), want %d", len(b.TCPDropping), b.TCPDroppingOmitted, lab.TCPRcvbufConns)
	}
	var counted uint64
	for _, k := range []string{"TcpExt.TCPRcvQDrop", "TcpExt.TCPOFODrop", "TcpExt.TCPZeroWindowDrop", "TcpExt.BeyondWindow"} {
		t.Logf("B %s %d", k, b.SNMP[k])
		counted += b.SNMP[k]
	}
	if b.SNMP["TcpExt.TCPRcvQDrop"] == 0 {
		t.Error("B's TcpExt.TCPRcvQDrop did not move")
	}
	// The connections are read after the counters, while late segments may still arrive:
	// about equal, never fewer.
	if _, beyond := b.SNMP["TcpExt.BeyondWindow"]; drops < counted || beyond && float64(drops) > 1.1*float64(counted)+2 {
		t.Errorf("connections dropped %d, B's counters %d: want about equal (at least the counters before 6.17)", drops, counted)
	}
	held, err := owner.SocketOwners("/proc", []int{os.Getpid()}, inodes)
	if err != nil {
		t.Fatal(err)
	}
	for _, ino := range inodes {
		if !slices.Equal(held[ino], []int{os.Getpid()}) {
			t.Errorf("connection inode %d held by %v, want this process (%d), which accepted it", ino, held[ino], os.Getpid())
		}
	}
}
