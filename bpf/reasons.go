package bpf

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf/btf"
)

// ErrNoDropReasons is returned when the kernel's BTF has no enum skb_drop_reason (< 5.17).
var ErrNoDropReasons = errors.New("kernel has no skb_drop_reason enum")

const reasonPrefix = "SKB_DROP_REASON_"

// DropReasons returns the running kernel's drop reason names by value, read from its BTF:
// the numbers differ between kernels, so they are never hard-coded.
func DropReasons() (map[uint32]string, error) {
	return dropReasonsFrom(btf.LoadKernelSpec())
}

func (p *Probes) dropReasons() (map[uint32]string, error) { return dropReasonsFrom(p.btf.Kernel()) }

func dropReasonsFrom(spec *btf.Spec, err error) (map[uint32]string, error) {
	if err != nil {
		return nil, fmt.Errorf("load kernel btf: %w", err)
	}
	return dropReasons(spec)
}

func dropReasons(spec *btf.Spec) (map[uint32]string, error) {
	var enum *btf.Enum
	if err := spec.TypeByName("skb_drop_reason", &enum); err != nil {
		if errors.Is(err, btf.ErrNotFound) {
			return nil, ErrNoDropReasons
		}
		return nil, fmt.Errorf("find skb_drop_reason: %w", err)
	}
	return reasonNames(enum), nil
}

// reasonNames strips the common prefix and skips the enum's bookkeeping values, which are
// not reasons a packet is dropped for.
func reasonNames(enum *btf.Enum) map[uint32]string {
	out := make(map[uint32]string, len(enum.Values))
	for _, v := range enum.Values {
		name := strings.TrimPrefix(v.Name, reasonPrefix)
		if name == "MAX" || name == "SUBSYS_MASK" {
			continue
		}
		if _, dup := out[uint32(v.Value)]; dup {
			continue // keep the first name of aliased values
		}
		out[uint32(v.Value)] = name
	}
	return out
}

// reasonValue finds the value of a named reason ("SKB_CONSUMED" style names included).
func reasonValue(names map[uint32]string, name string) (uint32, bool) {
	for v, n := range names {
		if n == name {
			return v, true
		}
	}
	return 0, false
}
