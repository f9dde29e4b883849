package apply

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/nettune/nettune/knob/live"
)

// validateRecorded is the one check of a knob ID, namespace and value read back from the
// journal before anything uses them: rollback writes such values as root.
//
// Until the knob table's per-knob ranges replace it, it accepts only the knobs nettune's plan
// can change, and values of the form the kernel file takes: the knob's number of integer
// fields within the C type the kernel parses them into, a hex CPU mask, or a CPU list.
func validateRecorded(id, netns, value string) error {
	k, err := live.Parse(id, netns, live.Env{})
	if err != nil {
		return err
	}
	if err := validNetns(netns); err != nil {
		return err
	}
	if k.Netns() != netns {
		return fmt.Errorf("%s is host-wide but recorded in netns %q", id, netns)
	}
	kind, rest, _ := strings.Cut(id, ":")
	var form valueForm
	switch kind {
	case "sysctl":
		f, ok := recordableSysctls[rest]
		if !ok {
			return fmt.Errorf("%w: nettune never changes sysctl %s", live.ErrUnknown, rest)
		}
		form = f
	case "rps":
		form = valueForm{mask: true}
	case "irq-affinity":
		form = valueForm{cpuList: true}
	case "rps-flow-cnt":
		form = valueForm{fields: 1, max: 1<<31 - 1}
	case "ethtool-ring", "txqueuelen", "qdisc-limit":
		form = valueForm{fields: 1, max: 1<<32 - 1}
	default:
		return fmt.Errorf("%w: %q", live.ErrUnknown, id)
	}
	if err := form.check(value); err != nil {
		return fmt.Errorf("%s value %q: %w", id, value, err)
	}
	return nil
}

// valueForm is what a knob's file holds.
type valueForm struct {
	fields  int   // integer fields
	max     int64 // largest value of the C type (int, unsigned int, long); never negative
	mask    bool  // hex CPU mask in 32-bit groups ("00000000,0000000f")
	cpuList bool  // CPU list ("0-3,8")
}

const (
	cInt  = 1<<31 - 1
	cLong = 1<<63 - 1
)

// recordableSysctls are the sysctls the plan can change (policy's rules), with their fields and
// the type the kernel's handler parses (proc_dointvec*, proc_doulongvec_minmax).
var recordableSysctls = map[string]valueForm{
	"net.core.netdev_max_backlog":    {fields: 1, max: cInt},
	"net.core.netdev_budget":         {fields: 1, max: cInt},
	"net.core.netdev_budget_usecs":   {fields: 1, max: cInt},
	"net.core.rmem_max":              {fields: 1, max: cInt},
	"net.core.rmem_default":          {fields: 1, max: cInt},
	"net.core.somaxconn":             {fields: 1, max: cInt},
	"net.core.flow_limit_table_len":  {fields: 1, max: cInt},
	"net.ipv4.tcp_rmem":              {fields: 3, max: cInt},
	"net.ipv4.tcp_mem":               {fields: 3, max: cLong},
	"net.ipv4.udp_mem":               {fields: 3, max: cLong},
	"net.ipv4.ipfrag_high_thresh":    {fields: 1, max: cLong},
	"net.netfilter.nf_conntrack_max": {fields: 1, max: cInt},
}

var (
	maskRe    = regexp.MustCompile(`^[0-9a-fA-F]{1,8}(,[0-9a-fA-F]{1,8})*$`)
	cpuListRe = regexp.MustCompile(`^[0-9]{1,5}(-[0-9]{1,5})?(,[0-9]{1,5}(-[0-9]{1,5})?)*$`)
)

// maxCPUs bounds masks and lists: the kernel's largest NR_CPUS.
const maxCPUs = 8192

func (f valueForm) check(v string) error {
	switch {
	case f.mask:
		if !maskRe.MatchString(v) || len(v) > maxCPUs/4+maxCPUs/32 {
			return fmt.Errorf("not a CPU mask")
		}
		return nil
	case f.cpuList:
		if !cpuListRe.MatchString(v) {
			return fmt.Errorf("not a CPU list")
		}
		for _, r := range strings.Split(v, ",") {
			lo, hi, isRange := strings.Cut(r, "-")
			a, _ := strconv.Atoi(lo)
			b := a
			if isRange {
				b, _ = strconv.Atoi(hi)
			}
			if b < a || b >= maxCPUs {
				return fmt.Errorf("CPU range %s", r)
			}
		}
		return nil
	}
	fields := strings.Split(v, " ")
	if len(fields) != f.fields {
		return fmt.Errorf("%d fields, the knob has %d", len(fields), f.fields)
	}
	for _, x := range fields {
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil || n < 0 || n > f.max || strconv.FormatInt(n, 10) != x {
			return fmt.Errorf("%q is not an integer in 0..%d", x, f.max)
		}
	}
	return nil
}

// validNetns accepts what nettune records for a namespace: "" (its own), a name under
// /run/netns, or a clean absolute path (/proc/PID/ns/net, a bind mount).
func validNetns(ns string) error {
	switch {
	case ns == "":
		return nil
	case strings.ContainsAny(ns, "\x00\n"), len(ns) > 4096:
		return fmt.Errorf("netns %q is not a name or path", ns)
	case strings.Contains(ns, "/"):
		if !filepath.IsAbs(ns) || filepath.Clean(ns) != ns {
			return fmt.Errorf("netns %q is not a clean absolute path", ns)
		}
	case ns == "." || ns == ".." || len(ns) > 255:
		return fmt.Errorf("netns %q is not a name", ns)
	}
	return nil
}
