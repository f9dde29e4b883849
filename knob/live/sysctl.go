package live

import (
	"fmt"
	"path/filepath"
	"strings"

	sysctl "github.com/lorenzosaino/go-sysctl"

	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/policy"
)

type sysctlKnob struct {
	key, ns, root string
}

func (k *sysctlKnob) ID() string       { return "sysctl:" + k.key }
func (k *sysctlKnob) Netns() string    { return k.ns }
func (k *sysctlKnob) Disruptive() bool { return false }

// Key is the dotted sysctl key (used by ownership checks against sysctl.d).
func (k *sysctlKnob) Key() string { return k.key }

// Keyed is implemented by sysctl knobs.
type Keyed interface{ Key() string }

// do runs fn with a client for the knob's namespace: per-netns sysctls are only visible from a
// thread inside that namespace.
func (k *sysctlKnob) do(fn func(c *sysctl.Client) error) error {
	return netns.Do(k.ns, func() error {
		c, err := sysctl.NewClient(filepath.Join(k.root, "sys"))
		if err != nil {
			return fmt.Errorf("sysctl root: %w", err)
		}
		return fn(c)
	})
}

func (k *sysctlKnob) Read() (string, error) {
	var v string
	err := k.do(func(c *sysctl.Client) error {
		var err error
		v, err = c.Get(k.key)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("read %s: %w", k.key, err)
	}
	return normalize(v), nil
}

func (k *sysctlKnob) Write(v string) error {
	v = normalize(v)
	if v == "" {
		return fmt.Errorf("%w: empty value for %s", ErrBadValue, k.key)
	}
	if err := k.do(func(c *sysctl.Client) error { return c.Set(k.key, v) }); err != nil {
		return fmt.Errorf("write %s=%q: %w", k.key, v, err)
	}
	return nil
}

func (k *sysctlKnob) Compare(a, b string) Order { return compareInts(a, b) }

func (k *sysctlKnob) Command(v string) string {
	v = normalize(v)
	if strings.Contains(v, " ") {
		v = `"` + v + `"`
	}
	return nsPrefix(k.ns) + "sysctl -w " + k.key + "=" + v
}

// perNetnsCore are the net.core keys each namespace has its own copy of (docs/rules.md §5).
var perNetnsCore = map[string]bool{
	"net.core.somaxconn": true, "net.core.optmem_max": true, "net.core.txrehash": true,
	"net.core.tstamp_allow_data": true, "net.core.rps_default_mask": true,
}

// globalNet are the keys below net.ipv4 and net.netfilter shared by all namespaces: a child
// netns has no tcp_mem/udp_mem, and shows nf_conntrack_max and _buckets read-only
// (nf_conntrack_standalone.c).
var globalNet = map[string]bool{
	"net.ipv4.tcp_mem": true, "net.ipv4.udp_mem": true,
	"net.netfilter.nf_conntrack_max": true, "net.netfilter.nf_conntrack_buckets": true,
}

func (k *sysctlKnob) Scope() policy.Scope {
	switch {
	case perNetnsCore[k.key]:
		return policy.ScopeNetns
	case strings.HasPrefix(k.key, "net.core."), globalNet[k.key]:
		return policy.ScopeGlobal
	case strings.HasPrefix(k.key, "net."):
		return policy.ScopeNetns
	}
	return policy.ScopeGlobal
}

// validSysctlKey accepts dotted keys only: go-sysctl maps every dot to a slash, so a key
// with a slash or an empty segment would address the wrong file.
func validSysctlKey(key string) bool {
	if key == "" {
		return false
	}
	for _, seg := range strings.Split(key, ".") {
		if seg == "" {
			return false
		}
		for _, r := range seg {
			if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return false
			}
		}
	}
	return true
}

// nsPrefix is how a person runs a command in the knob's namespace.
func nsPrefix(ns string) string {
	switch {
	case ns == "":
		return ""
	case strings.Contains(ns, "/"):
		return "nsenter --net=" + ns + " "
	}
	return "ip netns exec " + ns + " "
}
