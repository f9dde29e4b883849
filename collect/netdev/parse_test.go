package netdev

import (
	"encoding/binary"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/model"
)

// Messages are built the way the kernel lays them out (tc_fill_qdisc, gnet_stats_copy_*,
// rtnl_fill_ifinfo), including the 64-bit alignment pads.

func tcmsg(ifindex int32, handle, parent uint32) []byte {
	b := make([]byte, sizeofTcmsg)
	binary.NativeEndian.PutUint32(b[4:], uint32(ifindex))
	binary.NativeEndian.PutUint32(b[8:], handle)
	binary.NativeEndian.PutUint32(b[12:], parent)
	return b
}

func u32s(vs ...uint32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.NativeEndian.PutUint32(b[4*i:], v)
	}
	return b
}

func encode(t *testing.T, fn func(ae *netlink.AttributeEncoder)) []byte {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	fn(ae)
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stats2Attrs writes TCA_STATS2 with gnet_stats_basic (packets clamped to u32 as the kernel
// does), TCA_STATS_PKT64 when packets exceed 32 bits, and gnet_stats_queue; then the legacy
// TCA_STATS with truncated packets.
func stats2Attrs(ae *netlink.AttributeEncoder, bytes, packets uint64, qlen, backlog, drops, requeues, overlimits uint32) {
	clamped := uint32(min(packets, 1<<32-1))
	ae.Nested(tcaStats2, func(nae *netlink.AttributeEncoder) error {
		nae.Bytes(6, nil) // TCA_STATS_PAD
		basic := make([]byte, 16)
		binary.NativeEndian.PutUint64(basic, bytes)
		binary.NativeEndian.PutUint32(basic[8:], clamped)
		nae.Bytes(tcaStatsBasic, basic)
		if packets > 1<<32-1 {
			nae.Uint64(tcaStatsPkt64, packets)
		}
		nae.Bytes(tcaStatsQueue, u32s(qlen, backlog, drops, requeues, overlimits))
		return nil
	})
	legacy := make([]byte, 40)
	binary.NativeEndian.PutUint64(legacy, bytes)
	copy(legacy[8:], u32s(uint32(packets), drops, overlimits, 0, 0, qlen, backlog))
	ae.Bytes(tcaStats, legacy)
}

func TestParseQdisc(t *testing.T) {
	tbfParms := make([]byte, 36)
	binary.NativeEndian.PutUint32(tbfParms[8:], 125000) // rate (bytes/s) in the first tc_ratespec
	binary.NativeEndian.PutUint32(tbfParms[24:], 82768) // limit, after rate and peakrate
	tests := []struct {
		name    string
		msg     []byte
		ifindex int
		want    model.Qdisc
	}{
		{
			name: "pfifo with 64-bit packets",
			msg: append(tcmsg(7, 0x00050000, tcHRoot), encode(t, func(ae *netlink.AttributeEncoder) {
				ae.String(tcaKind, "pfifo")
				ae.Bytes(tcaOptions, u32s(5))
				stats2Attrs(ae, 1<<40, 5_000_000_000, 2, 3000, 70, 3, 1)
			})...),
			ifindex: 7,
			want: model.Qdisc{Kind: "pfifo", Handle: "5:", Parent: "root", Root: true, Limit: 5,
				Packets: 5_000_000_000, Bytes: 1 << 40, Drops: 70, Requeues: 3, Overlimits: 1,
				Qlen: 2, Backlog: 3000, Wrap32: true},
		},
		{
			name: "bfifo limit in bytes",
			msg: append(tcmsg(3, 0x00010000, tcHRoot), encode(t, func(ae *netlink.AttributeEncoder) {
				ae.String(tcaKind, "bfifo")
				ae.Bytes(tcaOptions, u32s(15000))
				stats2Attrs(ae, 100, 1, 0, 0, 0, 0, 0)
			})...),
			ifindex: 3,
			want: model.Qdisc{Kind: "bfifo", Handle: "1:", Parent: "root", Root: true,
				LimitBytes: 15000, Packets: 1, Bytes: 100, Wrap32: true},
		},
		{
			name: "tbf",
			msg: append(tcmsg(1, 0x80010000, tcHRoot), encode(t, func(ae *netlink.AttributeEncoder) {
				ae.String(tcaKind, "tbf")
				ae.Nested(tcaOptions, func(nae *netlink.AttributeEncoder) error {
					nae.Bytes(tcaTbfParms, tbfParms)
					return nil
				})
				stats2Attrs(ae, 0, 0, 0, 0, 9, 0, 44)
			})...),
			ifindex: 1,
			want: model.Qdisc{Kind: "tbf", Handle: "8001:", Parent: "root", Root: true,
				LimitBytes: 82768, Rate: 125000, Drops: 9, Overlimits: 44, Wrap32: true},
		},
		{
			name: "tbf above 32-bit rates",
			msg: append(tcmsg(1, 0x80010000, tcHRoot), encode(t, func(ae *netlink.AttributeEncoder) {
				ae.String(tcaKind, "tbf")
				ae.Nested(tcaOptions, func(nae *netlink.AttributeEncoder) error {
					nae.Bytes(tcaTbfParms, tbfParms)
					nae.Uint64(tcaTbfRate64, 5e9) // 40 Gbit/s
					return nil
				})
				stats2Attrs(ae, 0, 0, 0, 0, 0, 0, 0)
			})...),
			ifindex: 1,
			want: model.Qdisc{Kind: "tbf", Handle: "8001:", Parent: "root", Root: true,
				LimitBytes: 82768, Rate: 5e9, Wrap32: true},
		},
		{
			name: "mq child",
			msg: append(tcmsg(4, 0, 0x00010003), encode(t, func(ae *netlink.AttributeEncoder) {
				ae.String(tcaKind, "pfifo_fast")
				ae.Bytes(tcaOptions, make([]byte, 20)) // tc_prio_qopt
				stats2Attrs(ae, 350, 5, 0, 0, 0, 0, 0)
			})...),
			ifindex: 4,
			want: model.Qdisc{Kind: "pfifo_fast", Handle: "", Parent: "1:3", Packets: 5, Bytes: 350,
				Wrap32: true},
		},
		{
			name: "clsact",
			msg: append(tcmsg(4, 0xFFFF0000, tcHIngress), encode(t, func(ae *netlink.AttributeEncoder) {
				ae.String(tcaKind, "clsact")
				ae.Nested(tcaOptions, func(*netlink.AttributeEncoder) error { return nil })
				stats2Attrs(ae, 0, 0, 0, 0, 12, 0, 0)
			})...),
			ifindex: 4,
			want:    model.Qdisc{Kind: "clsact", Handle: "ffff:", Parent: "clsact", Drops: 12, Wrap32: true},
		},
		{
			name: "legacy stats only",
			msg: append(tcmsg(2, 0x00020000, tcHRoot), encode(t, func(ae *netlink.AttributeEncoder) {
				ae.String(tcaKind, "htb")
				legacy := make([]byte, 40)
				binary.NativeEndian.PutUint64(legacy, 999)
				copy(legacy[8:], u32s(10, 2, 3, 0, 0, 1, 60))
				ae.Bytes(tcaStats, legacy)
				ae.Bytes(99, []byte{1, 2, 3, 4}) // attributes from newer kernels are skipped
			})...),
			ifindex: 2,
			want: model.Qdisc{Kind: "htb", Handle: "2:", Parent: "root", Root: true, Packets: 10,
				Bytes: 999, Drops: 2, Overlimits: 3, Qlen: 1, Backlog: 60, Wrap32: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ifindex, got, err := parseQdisc(tt.msg, interner{})
			if err != nil {
				t.Fatal(err)
			}
			if ifindex != tt.ifindex || got != tt.want {
				t.Fatalf("got %d %+v\nwant %d %+v", ifindex, got, tt.ifindex, tt.want)
			}
		})
	}
}

func TestParseQdiscErrors(t *testing.T) {
	if _, _, err := parseQdisc(make([]byte, 10), interner{}); err == nil {
		t.Error("short message: no error")
	}
	bad := append(tcmsg(1, 0, tcHRoot), 0xFF, 0xFF, 0, 0) // attribute longer than the message
	if _, _, err := parseQdisc(bad, interner{}); err == nil {
		t.Error("bad attribute: no error")
	}
	badNested := append(tcmsg(1, 0, tcHRoot), encode(t, func(ae *netlink.AttributeEncoder) {
		ae.Bytes(tcaStats2, []byte{40, 0, tcaStatsQueue, 0}) // nested length past its end
	})...)
	if _, _, err := parseQdisc(badNested, interner{}); err == nil {
		t.Error("bad nested attribute: no error")
	}
}

func TestHandleString(t *testing.T) {
	for h, want := range map[uint32]string{0: "", 0x10000: "1:", 0x10002: "1:2", 0xFFFF0000: "ffff:",
		0x80010000: "8001:"} {
		if got := handleString(h); got != want {
			t.Errorf("%#x: %q, want %q", h, got, want)
		}
	}
}

func ifinfomsg(index int32, flags uint32) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	binary.NativeEndian.PutUint32(b[8:], flags)
	return b
}

func TestParseLink(t *testing.T) {
	st := make([]byte, 25*8) // 6.18's rtnl_link_stats64: field i holds i+1
	for i := range 25 {
		binary.NativeEndian.PutUint64(st[8*i:], uint64(i+1))
	}
	msg := append(ifinfomsg(9, unix.IFF_UP|unix.IFF_RUNNING), encode(t, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.IFLA_IFNAME, "veth9")
		ae.Uint32(unix.IFLA_TXQLEN, 1000)
		ae.Uint8(unix.IFLA_OPERSTATE, operUp)
		ae.Uint32(unix.IFLA_MTU, 9000)
		ae.Uint32(unix.IFLA_NUM_TX_QUEUES, 4)
		ae.Uint32(unix.IFLA_NUM_RX_QUEUES, 2)
		ae.Bytes(unix.IFLA_STATS64, st)
		ae.Nested(unix.IFLA_LINKINFO, func(nae *netlink.AttributeEncoder) error {
			nae.String(unix.IFLA_INFO_KIND, "veth")
			nae.Bytes(unix.IFLA_INFO_DATA, nil)
			return nil
		})
	})...)
	got, err := parseLink(msg, interner{})
	if err != nil {
		t.Fatal(err)
	}
	want := model.Link{Name: "veth9", Index: 9, Kind: "veth", OperUp: true, MTU: 9000,
		TxQueueLen: 1000, NumRxQ: 2, NumTxQ: 4, Stats: model.LinkStats{
			RxPackets: 1, TxPackets: 2, RxBytes: 3, TxBytes: 4, RxErrors: 5, TxErrors: 6,
			RxDropped: 7, TxDropped: 8, RxLengthErrors: 11, RxOverErrors: 12, RxCrcErrors: 13,
			RxFrameErrors: 14, RxFifoErrors: 15, RxMissedErrors: 16, TxAbortedErrors: 17,
			TxCarrierErrors: 18, TxFifoErrors: 19, RxNoHandler: 24}}
	if got.Name != want.Name || got.Index != want.Index || got.Kind != want.Kind ||
		got.OperUp != want.OperUp || got.MTU != want.MTU || got.TxQueueLen != want.TxQueueLen ||
		got.NumRxQ != want.NumRxQ || got.NumTxQ != want.NumTxQ || got.Stats != want.Stats {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

// Kernels before 4.6 end rtnl_link_stats64 at tx_compressed: rx_nohandler stays 0.
func TestStats64Short(t *testing.T) {
	st := make([]byte, 23*8)
	binary.NativeEndian.PutUint64(st[15*8:], 77)
	got := stats64(st)
	if got.RxMissedErrors != 77 || got.RxNoHandler != 0 {
		t.Fatalf("got %+v", got)
	}
}

func TestParseLinkOperState(t *testing.T) {
	for _, tt := range []struct {
		state uint8
		flags uint32
		up    bool
	}{
		{operUp, unix.IFF_UP | unix.IFF_RUNNING, true},
		{2, unix.IFF_UP, false},                             // IF_OPER_DOWN
		{operUnknown, unix.IFF_UP | unix.IFF_RUNNING, true}, // lo, tun
		{operUnknown, 0, false},
	} {
		msg := append(ifinfomsg(1, tt.flags), encode(t, func(ae *netlink.AttributeEncoder) {
			ae.String(unix.IFLA_IFNAME, "x")
			ae.Uint8(unix.IFLA_OPERSTATE, tt.state)
		})...)
		l, err := parseLink(msg, interner{})
		if err != nil {
			t.Fatal(err)
		}
		if l.OperUp != tt.up {
			t.Errorf("operstate %d flags %#x: up = %v", tt.state, tt.flags, l.OperUp)
		}
	}
}
