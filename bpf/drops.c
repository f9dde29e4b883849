//go:build ignore

/* Drop accounting on skb:kfree_skb, keyed by (reason, netns, ifindex, location). */

#include "include/common.h"
#include "include/kernel.h"

char __license[] SEC("license") = "Dual BSD/GPL";

struct drop_key {
	__u32 reason;
	__u32 netns;
	__u32 ifindex;
	__u32 pad;
	__u64 location;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, struct drop_key);
	__type(value, __u64);
	__uint(max_entries, 8192);
} drops SEC(".maps");

/* Enum values differ between kernels: Go sets them from kernel BTF before load. ~0 never
 * matches a real reason. */
volatile const __u32 reason_not_dropped_yet = ~0;
volatile const __u32 reason_consumed = ~0;

/* The key's reason where the kernel passes none (noReason in Go). */
#define NO_REASON 0xffffffffu

/* 1 where kfree_skb passes the receiving socket as a fourth argument (rx_sk): Go reads the
 * tracepoint's prototype from BTF. 0 keeps the verifier from seeing the read. */
volatile const __u32 has_rx_sk = 0;

static __always_inline __u32 sock_netns(struct sock *sk)
{
	return sk ? BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum) : 0;
}

/* The drop's namespace and interface: from skb->dev, else from the socket. UDP reuses
 * skb->dev for its own scratch data once a datagram reaches the socket layer, so a "device"
 * that yields no namespace is not one; the namespace then comes from the receiving socket
 * (rx_sk) or the skb's owner, and the interface is unknown (0). Netns 0 means no namespace
 * could be told. */
static __always_inline void drop_place(struct drop_key *key, struct sk_buff *skb, struct sock *rx_sk)
{
	struct net_device *dev = BPF_CORE_READ(skb, dev);

	if (dev) {
		key->netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
		if (key->netns) {
			key->ifindex = BPF_CORE_READ(dev, ifindex);
			return;
		}
	}
	key->netns = sock_netns(rx_sk);
	if (!key->netns)
		key->netns = sock_netns(BPF_CORE_READ(skb, sk));
}

static __always_inline void count_drop(struct sk_buff *skb, struct sock *rx_sk, __u64 location, __u32 reason)
{
	struct drop_key key;
	__u64 one = 1, *v;

	__builtin_memset(&key, 0, sizeof(key));
	key.reason = reason;
	key.location = location;
	drop_place(&key, skb, rx_sk);

	v = bpf_map_lookup_elem(&drops, &key);
	if (v) {
		(*v)++;
		return;
	}
	if (!bpf_map_update_elem(&drops, &key, &one, BPF_NOEXIST))
		return;
	/* Another CPU may have inserted the key in between. */
	v = bpf_map_lookup_elem(&drops, &key);
	if (v) {
		(*v)++;
		return;
	}
	count_error();
}

static __always_inline void count_reason_drop(struct sk_buff *skb, struct sock *rx_sk, __u64 location,
					      __u32 reason)
{
	if (reason == reason_consumed || reason == reason_not_dropped_yet)
		return;
	count_drop(skb, rx_sk, location, reason);
}

/* Arguments of trace_kfree_skb: skb, location, reason (since 5.17), rx_sk (since 6.11). */
SEC("tp_btf/kfree_skb")
int nettune_drop(__u64 *ctx)
{
	struct sock *rx_sk = has_rx_sk ? (struct sock *)ctx[3] : 0;

	count_reason_drop((struct sk_buff *)ctx[0], rx_sk, ctx[1], (__u32)ctx[2]);
	return 0;
}

SEC("raw_tracepoint/kfree_skb")
int nettune_drop_rt(struct bpf_raw_tracepoint_args *ctx)
{
	struct sock *rx_sk = has_rx_sk ? (struct sock *)ctx->args[3] : 0;

	count_reason_drop((struct sk_buff *)ctx->args[0], rx_sk, ctx->args[1], (__u32)ctx->args[2]);
	return 0;
}

/* Before 5.17 kfree_skb has only (skb, location): reading a third argument fails the verifier
 * (tp_btf) or the attach (raw tracepoint). These kernels report frees through consume_skb,
 * so there is no consume path to filter, though some callers still free non-dropped skbs
 * with kfree_skb. */
SEC("tp_btf/kfree_skb")
int nettune_loc(__u64 *ctx)
{
	count_drop((struct sk_buff *)ctx[0], 0, ctx[1], NO_REASON);
	return 0;
}

SEC("raw_tracepoint/kfree_skb")
int nettune_loc_rt(struct bpf_raw_tracepoint_args *ctx)
{
	count_drop((struct sk_buff *)ctx->args[0], 0, ctx->args[1], NO_REASON);
	return 0;
}
