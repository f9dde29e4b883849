package netdev

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/model"
)

// LinkCounters is one link's stats64 as a stats dump gives it.
type LinkCounters struct {
	Index int
	Stats model.LinkStats
}

// sizeofIfStatsMsg is struct if_stats_msg (include/uapi/linux/if_link.h): family, two pads,
// ifindex, filter_mask.
const sizeofIfStatsMsg = 12

// errNoStats64 is a stats answer without the stats64 it was asked for.
var errNoStats64 = errors.New("no IFLA_STATS_LINK_64")

// Stats dumps every link's stats64 alone (RTM_GETSTATS asking for IFLA_STATS_LINK_64 only), in
// ifindex order. It says whether anything moved on a namespace's links at a fifth of a link
// dump's CPU (BenchmarkStatsOrDump): a link dump prints every attribute of every link, IPv4
// and IPv6 configuration included.
func (r *Reader) Stats() ([]LinkCounters, error) {
	req := make([]byte, sizeofIfStatsMsg)
	binary.NativeEndian.PutUint32(req[8:], 1<<(unix.IFLA_STATS_LINK_64-1)) // IFLA_STATS_FILTER_BIT
	out := make([]LinkCounters, 0, r.nLinks)
	err := r.dumpWith(unix.RTM_GETSTATS, req, func() { out = out[:0] }, func(m []byte) error {
		c, err := parseStats(m)
		if err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dump link stats: %w", err)
	}
	// Kernels before 6.6 dump in hash order.
	slices.SortFunc(out, func(a, b LinkCounters) int { return a.Index - b.Index })
	return out, nil
}

// parseStats decodes one RTM_NEWSTATS message body (if_stats_msg + attributes).
func parseStats(b []byte) (LinkCounters, error) {
	var c LinkCounters
	if len(b) < sizeofIfStatsMsg {
		return c, fmt.Errorf("stats message: %d bytes", len(b))
	}
	c.Index = int(int32(binary.NativeEndian.Uint32(b[4:8])))
	found := false
	err := walkAttrs(b[sizeofIfStatsMsg:], func(typ uint16, d []byte) {
		if typ == unix.IFLA_STATS_LINK_64 {
			c.Stats, found = stats64(d), true
		}
	})
	if err != nil {
		return c, fmt.Errorf("link %d stats: %w", c.Index, err)
	}
	if !found {
		return c, fmt.Errorf("link %d: %w", c.Index, errNoStats64)
	}
	return c, nil
}
