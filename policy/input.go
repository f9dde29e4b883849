package policy

import (
	"path"
	"strconv"
	"strings"

	"github.com/nettune/nettune/knob"
	"github.com/nettune/nettune/model"
)

// input is what every rule reads: one interval and the settings around it. Rules read it and
// nothing else; what they conclude goes into their output, never into the input.
type input struct {
	d    *model.Delta
	cur  *model.Sample
	cfg  Config
	host map[string]string
	ns   string

	maxMTU int
	// Caches built on first use (a read-only view of d): in-path data names links by
	// ifindex, and the funnel asks for every link's points.
	ifname map[int]string
	points map[linkPoint]map[int]uint64
	moved  []bool // per link: some driver counter moved (see counters)
}

func newInput(d *model.Delta, s Settings, cfg Config) *input {
	if d == nil {
		d = &model.Delta{}
	}
	cur := d.Cur
	if cur == nil {
		cur = &model.Sample{}
	}
	in := &input{d: d, cur: cur, cfg: cfg, host: s.HostSysctls, ns: cur.Netns}
	for i := range d.Links {
		in.maxMTU = max(in.maxMTU, d.Links[i].MTU)
	}
	return in
}

func (in *input) rate(n uint64) float64 { return in.d.Rate(n) }

// noCounters stands in for a link none of whose driver counters moved.
var noCounters = &model.Link{}

// counters is link i when some driver counter of it moved in the interval, and a link
// without counters otherwise: of a thousand links most count nothing, and every
// driver-counter helper then costs nothing for them. Its Stats are not the link's: read
// those from the link.
func (in *input) counters(i int) *model.Link {
	if in.moved == nil {
		in.moved = make([]bool, len(in.d.Links))
		for j := range in.d.Links {
			for k := range in.d.Links[j].Counters {
				if in.d.Links[j].Counters[k].Value != 0 {
					in.moved[j] = true
					break
				}
			}
		}
	}
	if in.moved[i] {
		return &in.d.Links[i]
	}
	return noCounters
}

func (in *input) snmp(key string) uint64 { return in.d.SNMP[key] }

// udp sums a UDP field over IPv4 and IPv6.
func (in *input) udp(field string) uint64 { return in.snmp("Udp."+field) + in.snmp("Udp6."+field) }

// linkName is the name of the link with this ifindex ("" if none).
func (in *input) linkName(ifindex int) string {
	if in.ifname == nil {
		in.ifname = make(map[int]string, len(in.d.Links))
		for i := range in.d.Links {
			in.ifname[in.d.Links[i].Index] = in.d.Links[i].Name
		}
	}
	return in.ifname[ifindex]
}

// sysctlValue reads the current value: the analysed netns first, then host sysctls for
// global keys.
func (in *input) sysctlValue(key string) (string, bool) {
	if v, ok := in.cur.Sysctls[key]; ok {
		return v, true
	}
	if isGlobal(key) {
		v, ok := in.host[key]
		return v, ok
	}
	return "", false
}

func (in *input) sysctlInt(key string) (int64, bool) {
	v, ok := in.sysctlValue(key)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return n, err == nil
}

func (in *input) unreadableWhy(key string) string {
	if isGlobal(key) && in.ns != "" {
		return " (global sysctl, not visible from netns " + in.ns + ": run in the host netns or pass host sysctls)"
	}
	return ""
}

// isGlobal reports whether the knob table has key as a host-wide sysctl: a child netns does
// not show it, or shows it read-only.
func isGlobal(key string) bool {
	r, ok := knob.Lookup(knob.SysctlID(key))
	return ok && r.Scope == model.ScopeGlobal
}

// scopeName is the netns part of a finding ID.
func (in *input) scopeName(hostWide bool) string {
	if hostWide || in.ns == "" {
		return "host"
	}
	return scopeOf(in.ns)
}

// scopeOf is how finding IDs name a namespace: a name as it is, a bind mount by its file
// name (what `ip netns` lists: "web", "cni-2eb0…"), a process's namespace file as "pid-N".
func scopeOf(ns string) string {
	dir, file := path.Split(strings.TrimRight(ns, "/"))
	if file == "net" && strings.HasSuffix(dir, "/ns/") {
		if pid := path.Base(strings.TrimSuffix(dir, "/ns/")); pid != "" && strings.Trim(pid, "0123456789") == "" {
			return "pid-" + pid
		}
	}
	if file == "" {
		return "_"
	}
	return file
}

// pointsByQueue is the in-path packets at point pt of link per queue, from an index built on
// first use: the funnel asks for every link and queue, and a scan of all points each time
// was quadratic in the number of links.
func (in *input) pointsByQueue(link string, pt model.Point) map[int]uint64 {
	if in.points == nil {
		in.points = map[linkPoint]map[int]uint64{}
		if ip := in.d.InPath; ip != nil {
			for _, x := range ip.Points {
				k := linkPoint{x.Link, x.Point}
				if in.points[k] == nil {
					in.points[k] = map[int]uint64{}
				}
				in.points[k][x.Queue] += x.Packets
			}
		}
	}
	return in.points[linkPoint{link, pt}]
}

type linkPoint struct {
	link  string
	point model.Point
}

// foreignXDP reports whether someone else's XDP program runs on link.
func (in *input) foreignXDP(link string) bool {
	if in.d.InPath == nil {
		return false
	}
	for _, p := range in.d.InPath.Foreign {
		if p.Link == link && p.Hook == "xdp" {
			return true
		}
	}
	return false
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func appendOnce(xs []string, x string) []string {
	if contains(xs, x) {
		return xs
	}
	return append(xs, x)
}

func intp(i int) *int { return &i }

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
