//go:build ignore

/* In-path packet counters: XDP and tc ingress per RX queue, tc egress per link, and the
 * driver hand-off per TX queue. Every program is transparent (XDP_PASS, TC next). */

#include "include/common.h"
#include "include/kernel.h"

char __license[] SEC("license") = "Dual BSD/GPL";

/* Counter arrays are indexed by a link's base slot plus its queue. Go sizes them before
 * load (max_entries) and loads one copy of the XDP and tc programs per link with the
 * constants below set, so the hot path needs no hash lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct counter);
	__uint(max_entries, 1);
} xdp_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct counter);
	__uint(max_entries, 1);
} tc_in_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct counter);
	__uint(max_entries, 1);
} tc_eg_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct counter);
	__uint(max_entries, 1);
} xmit_counts SEC(".maps");

/* The xmit tracepoint fires for every device of every namespace: watched selects ours. */
struct watch_key {
	__u32 netns;
	__u32 ifindex;
};

struct watch {
	__u32 base;
	__u32 queues;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct watch_key);
	__type(value, struct watch);
	__uint(max_entries, 64);
} watched SEC(".maps");

/* Per-link constants of the XDP and tc program copies. */
volatile const __u32 link_base = 0;
volatile const __u32 link_queues = 1;
volatile const __u32 link_slot = 0;
/* Drivers record the RX queue as queue_mapping = queue + 1 (0: not recorded); veth leaves
 * the sender's TX queue there, which equals the RX queue. */
volatile const __u32 link_rxq_offset = 0;

static __always_inline void add(void *map, __u32 key, __u64 packets, __u64 bytes)
{
	struct counter *c = bpf_map_lookup_elem(map, &key);

	if (!c) {
		count_error();
		return;
	}
	c->packets += packets;
	c->bytes += bytes;
}

static __always_inline __u32 queue_key(__u32 base, __u32 queues, __u32 q)
{
	/* Queues beyond the link's count cannot happen today; fold them into the last one
	 * rather than into a neighbour link's slots. */
	if (q >= queues)
		q = queues - 1;
	return base + q;
}

SEC("xdp")
int nettune_xdp(struct xdp_md *ctx)
{
	add(&xdp_counts, queue_key(link_base, link_queues, ctx->rx_queue_index), 1,
	    ctx->data_end - ctx->data);
	return XDP_PASS;
}

SEC("tc")
int nettune_tc_in(struct __sk_buff *skb)
{
	/* GRO super-packets carry gso_segs wire packets. */
	__u32 segs = skb->gso_segs;
	__u32 q = skb->queue_mapping;

	if (q >= link_rxq_offset)
		q -= link_rxq_offset;
	add(&tc_in_counts, queue_key(link_base, link_queues, q),
	    segs ? segs : 1, skb->len);
	return NETTUNE_TC_NEXT;
}

SEC("tc")
int nettune_tc_eg(struct __sk_buff *skb)
{
	/* queue_mapping is not chosen yet at tc egress: count per link only. */
	__u32 segs = skb->gso_segs;

	add(&tc_eg_counts, link_slot, segs ? segs : 1, skb->len);
	return NETTUNE_TC_NEXT;
}

SEC("tp_btf/net_dev_start_xmit")
int nettune_xmit(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	struct net_device *dev = (struct net_device *)ctx[1];
	struct watch_key wk = {
		.netns = BPF_CORE_READ(dev, nd_net.net, ns.inum),
		.ifindex = BPF_CORE_READ(dev, ifindex),
	};
	struct watch *w = bpf_map_lookup_elem(&watched, &wk);
	unsigned char *head;
	unsigned int end;
	__u16 segs = 0;

	if (!w)
		return 0;
	head = BPF_CORE_READ(skb, head);
	end = BPF_CORE_READ(skb, end);
	bpf_probe_read_kernel(&segs, sizeof(segs),
			      __builtin_preserve_access_index(&((struct skb_shared_info *)(head + end))->gso_segs));
	add(&xmit_counts, queue_key(w->base, w->queues, BPF_CORE_READ(skb, queue_mapping)),
	    segs ? segs : 1, BPF_CORE_READ(skb, len));
	return 0;
}
