package netdev

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ParseEthtoolS parses the text `ethtool -S <if>` prints ("NIC statistics:" followed by
// "name: value" lines). Names may themselves contain ": " (bnxt's "[0]: rx_discards"), so
// the value is what follows the last one.
func ParseEthtoolS(r io.Reader) (map[string]uint64, error) {
	stats := make(map[string]uint64)
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line == "NIC statistics:" {
			continue
		}
		i := strings.LastIndex(line, ": ")
		if i <= 0 {
			return nil, fmt.Errorf("ethtool -S line %d: no \"name: value\": %q", n, line)
		}
		v, err := strconv.ParseUint(strings.TrimSpace(line[i+2:]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("ethtool -S line %d: %w", n, err)
		}
		stats[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read ethtool -S: %w", err)
	}
	return stats, nil
}
