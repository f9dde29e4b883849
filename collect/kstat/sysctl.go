package kstat

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/lorenzosaino/go-sysctl"
)

// DefaultSysctls are the keys the rules in docs/rules.md read.
var DefaultSysctls = []string{
	"net.core.netdev_max_backlog",
	"net.core.netdev_budget",
	"net.core.netdev_budget_usecs",
	"net.core.dev_weight",
	"net.core.rmem_max",
	"net.core.rmem_default",
	"net.core.wmem_max",
	"net.core.wmem_default",
	"net.core.somaxconn",
	"net.core.rps_sock_flow_entries",
	"net.core.flow_limit_cpu_bitmap",
	"net.core.flow_limit_table_len",
	"net.core.default_qdisc",
	"net.ipv4.udp_mem",
	"net.ipv4.udp_rmem_min",
	"net.ipv4.tcp_rmem",
	"net.ipv4.tcp_wmem",
	"net.ipv4.tcp_mem",
	"net.ipv4.tcp_max_syn_backlog",
	"net.ipv4.tcp_syncookies",
	"net.ipv4.tcp_moderate_rcvbuf",
	"net.ipv4.ipfrag_high_thresh",
	"net.ipv4.ipfrag_low_thresh",
	"net.ipv4.ipfrag_time",
	"net.ipv4.conf.all.rp_filter",
	"net.ipv6.ip6frag_high_thresh",
	"net.ipv6.ip6frag_time",
	"net.netfilter.nf_conntrack_max",
	"net.netfilter.nf_conntrack_count",
	"net.netfilter.nf_conntrack_buckets",
}

// ReadSysctls reads the dotted keys from <proc>/sys as the calling thread's network namespace
// sees them. Keys that do not exist there are skipped silently: global-only keys such as
// net.core.netdev_max_backlog are absent in a child netns, net.netfilter.* without conntrack.
// Whitespace runs are collapsed to one space ("4096\t131072\t6291456" → "4096 131072 6291456").
// A key that exists but cannot be read does not hide the others: the map holds every value
// read and the error names the keys that failed.
func ReadSysctls(procRoot string, keys []string) (map[string]string, error) {
	c, err := sysctl.NewClient(filepath.Join(procRoot, "sys"))
	if err != nil {
		return nil, fmt.Errorf("sysctl: %w", err)
	}
	m := make(map[string]string, len(keys))
	var errs []error
	for _, k := range keys {
		v, err := c.Get(k)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			errs = append(errs, fmt.Errorf("sysctl %s: %w", k, err))
		default:
			m[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return m, errors.Join(errs...)
}
