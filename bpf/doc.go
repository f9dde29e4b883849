// Package bpf is nettune's in-path accounting: eBPF programs that count packets per queue at
// XDP, tc ingress/egress and the driver hand-off, and drops by reason on skb:kfree_skb. The
// C sources are compiled by bpf2go into the committed counters_bpfel.* and drops_bpfel.*
// files (see gen.go and docs/bpf.md), so building needs no clang.
package bpf
