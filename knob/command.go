package knob

import (
	"strconv"
	"strings"

	"github.com/nettune/nettune/model"
)

// Site is what a command needs besides the knob and the value.
type Site struct {
	// Netns is where the command runs: "" is the namespace nettune runs in, a path is entered
	// with nsenter, a name with ip netns exec. Global knobs always run in the host namespace.
	Netns string
	// Qdisc and Parent describe a qdisc-limit's qdisc: its kind, which tc needs ("pfifo" when
	// unknown), and its parent when it is not the root qdisc.
	Qdisc, Parent string
}

// Command is the shell equivalent of writing value to knob id ("" for a knob the table does
// not have). Sysfs and procfs writes are "echo v > file", run through sh -c inside another
// namespace.
func Command(id ID, value string, s Site) string {
	r, ok := Lookup(id)
	if !ok {
		return ""
	}
	value = Normalize(value)
	ns := s.Netns
	if r.Scope == model.ScopeGlobal {
		ns = ""
	}
	var cmd string
	switch r.Access {
	case AccessSysctl:
		if strings.ContainsRune(value, ' ') {
			value = `"` + value + `"`
		}
		cmd = "sysctl -w " + id.Key + "=" + value
	case AccessQueueFile, AccessIRQFile:
		mount, rel, _ := File(id)
		cmd = "echo " + value + " > " + mount + "/" + rel
		if ns != "" {
			cmd = "sh -c '" + cmd + "'"
		}
	case AccessEthtoolRing:
		cmd = "ethtool -G " + id.Iface + " " + r.Key + " " + value
	case AccessEthtoolChannels:
		cmd = "ethtool -L " + id.Iface + " combined " + value
	case AccessLinkTxQLen:
		cmd = "ip link set dev " + id.Iface + " txqueuelen " + value
	case AccessQdisc:
		kind, where := s.Qdisc, ""
		if kind == "" {
			kind = "pfifo"
		}
		if s.Parent != "" {
			where = "parent " + s.Parent + " "
		}
		cmd = "tc qdisc change dev " + id.Iface + " " + where + "handle " + FormatHandle(id.Handle) + " " + kind + " limit " + value
	}
	return inNetns(ns, cmd)
}

// inNetns prefixes a command so it runs in namespace ns.
func inNetns(ns, cmd string) string {
	switch {
	case ns == "":
		return cmd
	case strings.ContainsRune(ns, '/'):
		return "nsenter --net=" + ns + " " + cmd
	}
	return "ip netns exec " + ns + " " + cmd
}

// File is where a file-backed knob lives: the filesystem it is on ("/proc" or "/sys") and the
// path below it. ok is false for knobs that are not files of their own (sysctls are read
// through go-sysctl).
func File(id ID) (mount, rel string, ok bool) {
	r, found := Lookup(id)
	switch {
	case !found:
		return "", "", false
	case r.Access == AccessQueueFile:
		return "/sys", "class/net/" + id.Iface + "/queues/rx-" + strconv.FormatUint(uint64(id.Queue), 10) + "/" + r.File, true
	case r.Access == AccessIRQFile:
		return "/proc", "irq/" + strconv.FormatUint(uint64(id.IRQ), 10) + "/" + r.File, true
	}
	return "", "", false
}

// Normalize folds the kernel's tab-separated multi-value output into single spaces.
func Normalize(v string) string { return strings.Join(strings.Fields(v), " ") }
