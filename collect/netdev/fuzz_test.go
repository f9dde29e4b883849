package netdev

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/mdlayher/netlink"
	"github.com/safchain/ethtool"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/nldump"
	"github.com/nettune/nettune/model"
)

// Fuzz targets for the decoders of kernel answers in this package: netlink attributes, link
// and qdisc dump messages, ethtool string sets, statistics, driver info, rings and channels,
// and the text of ethtool -S. Seeds are the captured dumps and the drivers' -S fixtures.

// seedDump adds every answer of a captured rtnetlink dump (request seq 1).
func seedDump(f *testing.F, path string) {
	f.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	done, _, err := nldump.Answers(b, 1, func(m []byte) error { f.Add(bytes.Clone(m)); return nil })
	if !done || err != nil {
		f.Fatalf("%s: done %v, %v", path, done, err)
	}
}

type attr struct {
	typ  uint16
	data []byte
}

func attrs(b []byte) ([]attr, error) {
	var out []attr
	err := walkAttrs(b, func(typ uint16, d []byte) { out = append(out, attr{typ, d}) })
	return out, err
}

func FuzzWalkAttrs(f *testing.F) {
	seedDump(f, "testdata/rtnl-6.18/links.bin")
	seedDump(f, "testdata/rtnl-6.18/qdiscs.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		as, err := attrs(b)
		if err != nil {
			return
		}
		total := 0
		for _, a := range as {
			if a.typ&^0x3FFF != 0 {
				t.Fatalf("type %#x keeps its flag bits", a.typ)
			}
			total += 4 + len(a.data)
		}
		if total > len(b) {
			t.Fatalf("%d bytes of attributes in %d", total, len(b))
		}
		// Written back with the kernel's padding, the attributes read the same.
		var out []byte
		for _, a := range as {
			out = binary.NativeEndian.AppendUint16(out, uint16(4+len(a.data)))
			out = binary.NativeEndian.AppendUint16(out, a.typ)
			out = append(out, a.data...)
			out = append(out, make([]byte, (4-len(out)%4)%4)...)
		}
		back, err := attrs(out)
		if err != nil || !reflect.DeepEqual(normalize(as), normalize(back)) {
			t.Fatalf("round trip: %v\nread back %v, %v", as, back, err)
		}
	})
}

// normalize makes empty payloads comparable (nil and empty slices).
func normalize(as []attr) []attr {
	for i := range as {
		if len(as[i].data) == 0 {
			as[i].data = nil
		}
	}
	return as
}

// linkMessage prints l as rtnl_fill_ifinfo would.
func linkMessage(t *testing.T, l model.Link) []byte {
	state := uint8(2) // IF_OPER_DOWN
	if l.OperUp {
		state = operUp
	}
	return append(ifinfomsg(int32(l.Index), 0), encode(t, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.IFLA_IFNAME, l.Name)
		ae.Uint32(unix.IFLA_MTU, uint32(l.MTU))
		ae.Uint32(unix.IFLA_TXQLEN, uint32(l.TxQueueLen))
		ae.Uint32(unix.IFLA_NUM_TX_QUEUES, uint32(l.NumTxQ))
		ae.Uint32(unix.IFLA_NUM_RX_QUEUES, uint32(l.NumRxQ))
		ae.Uint8(unix.IFLA_OPERSTATE, state)
		ae.Bytes(unix.IFLA_STATS64, stats64Bytes(l.Stats))
		if l.PeerIfindex != 0 {
			ae.Uint32(unix.IFLA_LINK, uint32(l.PeerIfindex))
		}
		if l.PeerNetnsID != nil {
			ae.Int32(unix.IFLA_LINK_NETNSID, *l.PeerNetnsID)
		}
		if l.Kind != "" {
			ae.Nested(unix.IFLA_LINKINFO, func(nae *netlink.AttributeEncoder) error {
				nae.String(unix.IFLA_INFO_KIND, l.Kind)
				return nil
			})
		}
	})...)
}

// stats64Bytes prints st as struct rtnl_link_stats64.
func stats64Bytes(st model.LinkStats) []byte {
	b := make([]byte, 25*8)
	for i, v := range []uint64{st.RxPackets, st.TxPackets, st.RxBytes, st.TxBytes,
		st.RxErrors, st.TxErrors, st.RxDropped, st.TxDropped, 0, 0,
		st.RxLengthErrors, st.RxOverErrors, st.RxCrcErrors, st.RxFrameErrors,
		st.RxFifoErrors, st.RxMissedErrors, st.TxAbortedErrors, st.TxCarrierErrors,
		st.TxFifoErrors, 0, 0, 0, 0, st.RxNoHandler} {
		binary.NativeEndian.PutUint64(b[8*i:], v)
	}
	return b
}

func FuzzParseLink(f *testing.F) {
	seedDump(f, "testdata/rtnl-6.18/links.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		kinds := interner{}
		l, err := parseLink(b, kinds)
		if err != nil {
			return
		}
		for _, s := range []string{l.Name, l.Kind} {
			if strings.IndexByte(s, 0) >= 0 || len(s) > len(b) {
				t.Fatalf("string %q from %d bytes", s, len(b))
			}
		}
		if l.MTU < 0 || l.TxQueueLen < 0 || l.NumRxQ < 0 || l.NumTxQ < 0 ||
			max(l.MTU, l.TxQueueLen, l.NumRxQ, l.NumTxQ) > math.MaxUint32 {
			t.Fatalf("u32 attribute out of range: %+v", l)
		}
		if l.Kind != "" && kinds[l.Kind] != l.Kind {
			t.Fatalf("kind %q not interned", l.Kind)
		}
		back, err := parseLink(linkMessage(t, l), kinds)
		if err != nil || !reflect.DeepEqual(l, back) {
			t.Fatalf("round trip: %+v\nparsed back %+v, %v", l, back, err)
		}
	})
}

func FuzzParseStats(f *testing.F) {
	seedDump(f, "testdata/rtnl-6.18/stats.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseStats(b)
		if err != nil {
			return
		}
		hdr := make([]byte, sizeofIfStatsMsg)
		binary.NativeEndian.PutUint32(hdr[4:], uint32(int32(c.Index)))
		msg := append(hdr, encode(t, func(ae *netlink.AttributeEncoder) {
			ae.Bytes(unix.IFLA_STATS_LINK_64, stats64Bytes(c.Stats))
		})...)
		back, err := parseStats(msg)
		if err != nil || back != c {
			t.Fatalf("round trip: %+v\nparsed back %+v, %v", c, back, err)
		}
	})
}

// qdiscMessage prints q as tc_fill_qdisc would, with the tcmsg header of hdr.
func qdiscMessage(t *testing.T, hdr []byte, q model.Qdisc) []byte {
	return append(bytes.Clone(hdr[:sizeofTcmsg]), encode(t, func(ae *netlink.AttributeEncoder) {
		ae.String(tcaKind, q.Kind)
		switch q.Kind {
		case "pfifo":
			ae.Bytes(tcaOptions, u32s(q.Limit))
		case "bfifo":
			ae.Bytes(tcaOptions, u32s(q.LimitBytes))
		case "tbf":
			ae.Nested(tcaOptions, func(nae *netlink.AttributeEncoder) error {
				parms := make([]byte, 36)
				binary.NativeEndian.PutUint32(parms[8:], uint32(min(q.Rate, math.MaxUint32)))
				binary.NativeEndian.PutUint32(parms[24:], q.LimitBytes)
				nae.Bytes(tcaTbfParms, parms)
				if q.Rate > math.MaxUint32 {
					nae.Uint64(tcaTbfRate64, q.Rate)
				}
				return nil
			})
		}
		ae.Nested(tcaStats2, func(nae *netlink.AttributeEncoder) error {
			basic := make([]byte, 16)
			binary.NativeEndian.PutUint64(basic, q.Bytes)
			binary.NativeEndian.PutUint32(basic[8:], uint32(min(q.Packets, math.MaxUint32)))
			nae.Bytes(tcaStatsBasic, basic)
			if q.Packets > math.MaxUint32 {
				nae.Uint64(tcaStatsPkt64, q.Packets)
			}
			nae.Bytes(tcaStatsQueue, u32s(q.Qlen, q.Backlog, uint32(q.Drops), uint32(q.Requeues), uint32(q.Overlimits)))
			return nil
		})
	})...)
}

func FuzzParseQdisc(f *testing.F) {
	seedDump(f, "testdata/rtnl-6.18/qdiscs.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		ifindex, q, err := parseQdisc(b, interner{})
		if err != nil {
			return
		}
		if !q.Wrap32 || q.Drops > math.MaxUint32 || q.Requeues > math.MaxUint32 || q.Overlimits > math.MaxUint32 {
			t.Fatalf("32-bit queue counters: %+v", q)
		}
		if q.Root != (q.Parent == "root") {
			t.Fatalf("root %v with parent %q", q.Root, q.Parent)
		}
		if (q.Limit != 0 && q.Kind != "pfifo") || (q.LimitBytes != 0 && q.Kind != "bfifo" && q.Kind != "tbf") ||
			(q.Rate != 0 && q.Kind != "tbf") {
			t.Fatalf("limit or rate on a %q qdisc: %+v", q.Kind, q)
		}
		i2, back, err := parseQdisc(qdiscMessage(t, b, q), interner{})
		if err != nil || i2 != ifindex || back != q {
			t.Fatalf("round trip: link %d %+v\nparsed back link %d %+v, %v", ifindex, q, i2, back, err)
		}
	})
}

// fixtureSets returns the -S fixtures as string sets: each file's driver, names in the
// order the driver lists them, and values.
func fixtureSets(f *testing.F) (drivers []string, names [][]string, values [][]uint64) {
	paths, err := filepath.Glob("testdata/ethtool/*.txt")
	if err != nil || len(paths) == 0 {
		f.Fatalf("no -S fixtures: %v", err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		stats, err := ParseEthtoolS(bytes.NewReader(b))
		if err != nil {
			f.Fatal(err)
		}
		var ns []string
		var vs []uint64
		for _, line := range strings.Split(string(b), "\n") {
			if i := strings.LastIndex(line, ": "); i > 0 {
				n := strings.TrimSpace(line[:i])
				ns, vs = append(ns, n), append(vs, stats[n])
			}
		}
		driver, _, _ := strings.Cut(strings.TrimSuffix(filepath.Base(p), ".txt"), "-")
		drivers, names, values = append(drivers, driver), append(names, ns), append(values, vs)
	}
	return drivers, names, values
}

func gstringsData(names []string) []byte {
	b := make([]byte, len(names)*ethtool.ETH_GSTRING_LEN)
	for i, n := range names {
		copy(b[i*ethtool.ETH_GSTRING_LEN:(i+1)*ethtool.ETH_GSTRING_LEN-1], n)
	}
	return b
}

func u64s(vs []uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.NativeEndian.AppendUint64(b, v)
	}
	return b
}

// checkCounters asserts what a normalization promises: counters sorted by name, each once,
// each a name of the set with the value of its last occurrence, with a meaning.
func checkCounters(t *testing.T, cs []model.Counter, names []string, value func(i int) uint64) {
	t.Helper()
	for i, c := range cs {
		if i > 0 && cs[i-1].Name >= c.Name {
			t.Fatalf("not sorted by name, or repeated: %q, %q", cs[i-1].Name, c.Name)
		}
		last := -1
		for k, n := range names {
			if n == c.Name {
				last = k
			}
		}
		if last < 0 {
			t.Fatalf("counter %q not in the string set", c.Name)
		}
		if c.Value != value(last) {
			t.Fatalf("%s = %d, want %d", c.Name, c.Value, value(last))
		}
		if !c.Stage.Valid() || c.Queue < -1 || (c.Dir != model.Rx && c.Dir != model.Tx) ||
			(c.Kind != model.KindDrops && c.Kind != model.KindPackets && c.Kind != model.KindEvents) {
			t.Fatalf("counter %+v", c)
		}
	}
}

func FuzzStringSet(f *testing.F) {
	known := slices.Sorted(maps.Keys(drivers))
	ds, names, values := fixtureSets(f)
	for i := range ds {
		f.Add(uint8(slices.Index(known, ds[i])), gstringsData(names[i]), u64s(values[i]))
	}
	f.Fuzz(func(t *testing.T, driver uint8, data, vals []byte) {
		n := uint32(min(len(data)/ethtool.ETH_GSTRING_LEN, ethtool.MAX_GSTRINGS))
		set, vs := setAnswers(data, vals, n)
		for _, s := range set {
			if len(s) > ethtool.ETH_GSTRING_LEN || strings.IndexByte(s, 0) >= 0 {
				t.Fatalf("name %q", s)
			}
		}
		cs := planFor(known[int(driver)%len(known)], set).fill(vs)
		checkCounters(t, cs, set, func(i int) uint64 { return vs[i] })
	})
}

func FuzzParseEthtoolS(f *testing.F) {
	paths, err := filepath.Glob("testdata/ethtool/*.txt")
	if err != nil || len(paths) == 0 {
		f.Fatalf("no -S fixtures: %v", err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	known := slices.Sorted(maps.Keys(drivers))
	f.Fuzz(func(t *testing.T, s string) {
		stats, err := ParseEthtoolS(strings.NewReader(s))
		if err != nil {
			return
		}
		var text strings.Builder
		text.WriteString("NIC statistics:\n")
		for _, n := range slices.Sorted(maps.Keys(stats)) {
			fmt.Fprintf(&text, "     %s: %d\n", n, stats[n])
		}
		back, err := ParseEthtoolS(strings.NewReader(text.String()))
		if err != nil || !maps.Equal(stats, back) {
			t.Fatalf("round trip: %v\nparsed back %v, %v", stats, back, err)
		}
		names := slices.Collect(maps.Keys(stats))
		for _, d := range known {
			checkCounters(t, Normalize(d, stats), names, func(i int) uint64 { return stats[names[i]] })
		}
	})
}

// rawEthtool answers every ethtool query with the bytes it holds, decoded the way statsConn
// decodes the kernel's answers.
type rawEthtool struct {
	drv, ring, ch, strs, stats []byte
	drivers                    interner
}

// fill copies b over the struct *v, as the kernel's copy_to_user does.
func fill[T any](v *T, b []byte) {
	copy(unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v)), b)
}

func (r *rawEthtool) DriverInfo(string) (ethtool.DrvInfo, error) {
	var d drvinfo
	fill(&d, r.drv)
	return d.decode(r.drivers), nil
}

func (r *rawEthtool) Counters(_ string, k statsKey) ([]model.Counter, error) {
	if k.n > ethtool.MAX_GSTRINGS {
		return nil, fmt.Errorf("%d statistics", k.n)
	}
	names, values := setAnswers(r.strs, r.stats, k.n)
	return planFor(k.driver, names).fill(values), nil
}

// setAnswers decodes n names and values from the GSTRINGS and GSTATS answers strs and stats,
// zero-padded to n entries as the kernel's buffers are.
func setAnswers(strs, stats []byte, n uint32) ([]string, []uint64) {
	data := make([]byte, int(n)*ethtool.ETH_GSTRING_LEN)
	copy(data, strs)
	values := make([]uint64, n)
	for i := range values {
		if len(stats) >= 8*(i+1) {
			values[i] = binary.NativeEndian.Uint64(stats[8*i:])
		}
	}
	return stringSet(data, n), values
}

func (r *rawEthtool) GetRing(string) (ethtool.Ring, error) {
	var ring ethtool.Ring
	fill(&ring, r.ring)
	return ring, nil
}

func (r *rawEthtool) GetChannels(string) (ethtool.Channels, error) {
	var ch ethtool.Channels
	fill(&ch, r.ch)
	return ch, nil
}

func (r *rawEthtool) Forget([]model.Link) {}
func (r *rawEthtool) Close()              {}

// FuzzEthtoolAnswers runs readEthtool on driver info, ring, channels, string set and
// statistics answers made of arbitrary bytes.
func FuzzEthtoolAnswers(f *testing.F) {
	ds, names, values := fixtureSets(f)
	for i := range ds {
		var d drvinfo
		copy(d.driver[:], ds[i])
		d.nStats = uint32(len(names[i]))
		ring := ethtool.Ring{RxMaxPending: 4096, TxMaxPending: 4096, RxPending: 1024, TxPending: 1024}
		ch := ethtool.Channels{MaxCombined: 8, CombinedCount: 4, RxCount: 2, TxCount: 2}
		f.Add(unsafe.Slice((*byte)(unsafe.Pointer(&d)), unsafe.Sizeof(d)),
			unsafe.Slice((*byte)(unsafe.Pointer(&ring)), unsafe.Sizeof(ring)),
			unsafe.Slice((*byte)(unsafe.Pointer(&ch)), unsafe.Sizeof(ch)),
			gstringsData(names[i]), u64s(values[i]))
	}
	f.Fuzz(func(t *testing.T, drv, ring, ch, strs, stats []byte) {
		e := &rawEthtool{drv: drv, ring: ring, ch: ch, strs: strs, stats: stats, drivers: interner{}}
		l := model.Link{Name: "eth0", Index: 2, NumRxQ: 4}
		err := readEthtool(e, &l, map[string]bool{})
		info, _ := e.DriverInfo("")
		// Every answer came without an error: only an empty ring (read twice) and a string set
		// larger than the buffers are refused.
		if err != nil && !errors.Is(err, ErrUnavailable) && info.NStats <= ethtool.MAX_GSTRINGS {
			t.Fatal(err)
		}
		if l.Driver != info.Driver || len(l.Driver) >= 32 {
			t.Fatalf("driver %q from %q", l.Driver, info.Driver)
		}
		if l.Ring != nil && l.Ring.RxMax == 0 {
			t.Fatalf("ring %+v kept without a maximum", l.Ring)
		}
		if l.Channels == nil {
			t.Fatal("channels lost")
		}
		if len(l.Counters) > 0 && (info.NStats == 0 || drivers[l.Driver] == nil) {
			t.Fatalf("counters of driver %q with %d statistics", l.Driver, info.NStats)
		}
		if info.NStats <= ethtool.MAX_GSTRINGS {
			names, values := setAnswers(strs, stats, info.NStats)
			checkCounters(t, l.Counters, names, func(i int) uint64 { return values[i] })
		}
		if RxQueueBound(&l) < 0 {
			t.Fatalf("rx queue bound %d", RxQueueBound(&l))
		}
	})
}
