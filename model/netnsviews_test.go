package model

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

// forNetnsByFilter is ForNetns as one filter pass over the whole view per namespace: the
// reference NetnsViews is held to.
func forNetnsByFilter(ip *InPath, ino uint64) *InPath {
	c := *ip
	c.Netns = ino
	c.Points = []PointCount{}
	for _, p := range ip.Points {
		if p.Netns == ino {
			c.Points = append(c.Points, p)
		}
	}
	c.Drops = []DropCount{}
	for _, d := range ip.Drops {
		if d.Netns == ino || d.Netns == 0 {
			c.Drops = append(c.Drops, d)
		}
	}
	c.Foreign = nil
	for _, f := range ip.Foreign {
		if f.Netns == ino {
			c.Foreign = append(c.Foreign, f)
		}
	}
	if ip.Coverage != nil {
		cov := &Coverage{}
		for _, n := range ip.Coverage.PerNetns {
			if n.Netns == ino {
				cov.Asked, cov.Watched = n.Asked, n.Watched
				cov.PerNetns = []NetnsCoverage{n}
			}
		}
		for _, g := range ip.Coverage.Gaps {
			if g.Netns == ino {
				cov.Gaps = append(cov.Gaps, g)
			}
		}
		c.Coverage = cov
	}
	return &c
}

// randomInPath is a node's whole view over namespaces 0..n-1 (0: drops of no known
// namespace), entries in random order.
func randomInPath(r *rand.Rand, n int) *InPath {
	ns := func() uint64 { return uint64(r.IntN(n)) }
	ip := &InPath{Coverage: &Coverage{}}
	for i := range r.IntN(200) {
		ip.Points = append(ip.Points, PointCount{Point: PointXDP, Netns: ns(), Ifindex: i, Packets: uint64(i)})
	}
	for i := range r.IntN(100) {
		ip.Drops = append(ip.Drops, DropCount{Reason: "X", Netns: ns(), Count: uint64(i)})
	}
	for i := range r.IntN(5) {
		ip.Foreign = append(ip.Foreign, ForeignProg{Netns: ns(), ID: uint32(i)})
	}
	for i := range r.IntN(n) {
		ip.Coverage.PerNetns = append(ip.Coverage.PerNetns, NetnsCoverage{Netns: ns(), Asked: i, Watched: i})
		ip.Coverage.Gaps = append(ip.Coverage.Gaps, Gap{Netns: ns(), Link: "l"})
	}
	if r.IntN(4) == 0 {
		ip.Coverage = nil
	}
	return ip
}

func TestNetnsViewsIsForNetns(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		n := 1 + r.IntN(8)
		ip := randomInPath(r, n)
		views := ip.NetnsViews()
		for ino := range uint64(n + 1) {
			if got, want := views(ino), forNetnsByFilter(ip, ino); !reflect.DeepEqual(got, want) {
				t.Fatalf("netns %d of %+v:\nviews    %+v\nfiltered %+v", ino, ip, got, want)
			}
		}
	}
}

// BenchmarkNetnsViews500 takes every view of a node of 500 namespaces, 1 000 links with 4
// points each and 1 000 drop records: through the index, and by filtering per namespace.
func BenchmarkNetnsViews500(b *testing.B) {
	ip := &InPath{Coverage: &Coverage{}}
	for l := range 1000 {
		for _, p := range []Point{PointXDP, PointTCIngress, PointTCEgress, PointXmit} {
			ip.Points = append(ip.Points, PointCount{Point: p, Netns: uint64(l / 2), Ifindex: l})
		}
		ip.Drops = append(ip.Drops, DropCount{Reason: "X", Netns: uint64(l % 500), Count: 1})
	}
	for ino := range uint64(500) {
		ip.Coverage.PerNetns = append(ip.Coverage.PerNetns, NetnsCoverage{Netns: ino, Asked: 2, Watched: 2})
	}
	b.Run("index", func(b *testing.B) {
		for b.Loop() {
			views := ip.NetnsViews()
			for ino := range uint64(500) {
				_ = views(ino)
			}
		}
	})
	b.Run("filter", func(b *testing.B) {
		for b.Loop() {
			for ino := range uint64(500) {
				_ = forNetnsByFilter(ip, ino)
			}
		}
	})
}
