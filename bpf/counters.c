//go:build ignore

/* In-path packet counters: XDP and tc ingress per RX queue, tc egress per link, and the
 * driver hand-off per TX queue. Every program is transparent (XDP_PASS, TC next). The tc
 * points are counted by tc programs on each link, or, on hosts with many links, by two
 * host-wide tracepoints at the same places (see nettune_rx_trace). */

#include "include/common.h"
#include "include/kernel.h"

char __license[] SEC("license") = "Dual BSD/GPL";

/* One copy of each program serves every watched link of every namespace. A link is
 * identified by (netns inode, ifindex); infos holds its counter slots by link slot. Go sizes
 * all maps from the watched links before load (max_entries). */
struct link_key {
	__u32 netns;
	__u32 ifindex;
};

struct link_info {
	__u32 rx_base;	  /* first slot of the link's RX queues in xdp_counts, tc_in_counts */
	__u32 rx_queues;
	__u32 tx_base;	  /* first slot of its TX queues in xmit_counts */
	__u32 tx_queues;
	__u32 slot;	  /* its slot in infos and tc_eg_counts */
	/* Drivers record the RX queue as queue_mapping = queue + 1 (0: not recorded); veth
	 * leaves the sender's TX queue there, which equals the RX queue. */
	__u32 rxq_offset;
	/* 1: a tc program counts this link's ingress; the rx tracepoint leaves it alone. */
	__u32 rx_by_tc;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct link_info);
	__uint(max_entries, 1);
} infos SEC(".maps");

/* (netns, ifindex) → slot, for every watched link. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct link_key);
	__type(value, __u32);
	__uint(max_entries, 1);
} links SEC(".maps");

/* ifindex → slot + 1 (0: none) for links whose ifindex no other watched namespace has. The
 * XDP and tc programs run only on links they were attached to, so for those the ifindex alone
 * is the identity: two array lookups, which the verifier inlines, instead of reading the
 * namespace from kernel memory and hashing. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} by_ifindex SEC(".maps");

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

/* 0: the XDP and tc programs read the device's namespace from their context (one copy for
 * all namespaces). Otherwise the inode of the one namespace this copy is attached in, for
 * kernels that refuse bpf_probe_read_kernel to XDP and tc programs; the verifier then never
 * sees the read. */
volatile const __u32 fixed_netns = 0;

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

static __always_inline struct link_info *info_at(__u32 slot)
{
	return bpf_map_lookup_elem(&infos, &slot);
}

static __always_inline struct link_info *lookup_link(__u32 netns, __u32 ifindex)
{
	struct link_key k = { .netns = netns, .ifindex = ifindex };
	__u32 *slot = bpf_map_lookup_elem(&links, &k);

	return slot ? info_at(*slot) : 0;
}

static __always_inline struct link_info *unique_link(__u32 ifindex)
{
	__u32 *slot = bpf_map_lookup_elem(&by_ifindex, &ifindex);

	return slot && *slot ? info_at(*slot - 1) : 0;
}

static __always_inline __u32 dev_netns(struct net_device *dev)
{
	return BPF_CORE_READ(dev, nd_net.net, ns.inum);
}

/* The namespace is read from the device (three or four reads of kernel memory) only for an
 * ifindex several watched namespaces share; a per-namespace copy knows its own. A link found
 * neither way was never registered: an error. */
static __always_inline int miss(struct link_info *l)
{
	if (!l)
		count_error();
	return !l;
}

SEC("xdp")
int nettune_xdp(struct xdp_md *ctx)
{
	__u32 ifindex = ctx->ingress_ifindex;
	struct link_info *l = fixed_netns ? lookup_link(fixed_netns, ifindex) : unique_link(ifindex);

	if (!l && !fixed_netns) /* the context is the kernel's xdp_buff */
		l = lookup_link(dev_netns(BPF_CORE_READ((struct xdp_buff *)ctx, rxq, dev)), ifindex);
	if (miss(l))
		return XDP_PASS;
	add(&xdp_counts, queue_key(l->rx_base, l->rx_queues, ctx->rx_queue_index), 1,
	    ctx->data_end - ctx->data);
	return XDP_PASS;
}

/* tc programs run on the kernel's sk_buff; skb->ifindex is its device's. */
static __always_inline struct link_info *tc_link(struct __sk_buff *skb)
{
	struct link_info *l = fixed_netns ? lookup_link(fixed_netns, skb->ifindex) : unique_link(skb->ifindex);

	if (!l && !fixed_netns)
		l = lookup_link(dev_netns(BPF_CORE_READ((struct sk_buff *)skb, dev)), skb->ifindex);
	return miss(l) ? 0 : l;
}

SEC("tc")
int nettune_tc_in(struct __sk_buff *skb)
{
	/* GRO super-packets carry gso_segs wire packets. */
	__u32 segs = skb->gso_segs;
	__u32 q = skb->queue_mapping;
	struct link_info *l = tc_link(skb);

	if (!l)
		return NETTUNE_TC_NEXT;
	if (q >= l->rxq_offset)
		q -= l->rxq_offset;
	add(&tc_in_counts, queue_key(l->rx_base, l->rx_queues, q), segs ? segs : 1, skb->len);
	return NETTUNE_TC_NEXT;
}

SEC("tc")
int nettune_tc_eg(struct __sk_buff *skb)
{
	/* queue_mapping is not chosen yet at tc egress: count per link only. */
	__u32 segs = skb->gso_segs;
	struct link_info *l = tc_link(skb);

	if (l)
		add(&tc_eg_counts, l->slot, segs ? segs : 1, skb->len);
	return NETTUNE_TC_NEXT;
}

/* Tracepoints fire for every device of every namespace: only registered links count, and
 * a miss is not an error. */
static __always_inline struct link_info *traced_link(struct net_device *dev)
{
	return lookup_link(dev_netns(dev), BPF_CORE_READ(dev, ifindex));
}

/* The wire packets an skb carries: gso_segs of a GRO or GSO super-packet, else 1. */
static __always_inline __u32 skb_segs(struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	unsigned int end = BPF_CORE_READ(skb, end);
	__u16 segs = 0;

	bpf_probe_read_kernel(&segs, sizeof(segs),
			      __builtin_preserve_access_index(&((struct skb_shared_info *)(head + end))->gso_segs));
	return segs ? segs : 1;
}

SEC("tp_btf/net_dev_start_xmit")
int nettune_xmit(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	struct link_info *l = traced_link((struct net_device *)ctx[1]);

	if (l)
		add(&xmit_counts, queue_key(l->tx_base, l->tx_queues, BPF_CORE_READ(skb, queue_mapping)),
		    skb_segs(skb), BPF_CORE_READ(skb, len));
	return 0;
}

/* Host-wide stand-ins for the tc programs, for hosts with many links: one attachment each
 * instead of a tcx link per hook and link (each made and removed under RTNL after an RCU
 * grace period). netif_receive_skb fires on entry to __netif_receive_skb_core, right
 * before tc ingress, once per frame a driver or the backlog hands up (a stacked device —
 * vlan, bond, macvlan — is reached in that function without it: Go gives those a tc
 * program, rx_by_tc). Its skb has the link-layer header pulled, which tc ingress counts. */
SEC("tp_btf/netif_receive_skb")
int nettune_rx_trace(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	struct link_info *l = traced_link(BPF_CORE_READ(skb, dev));
	__u32 q, hdr;

	if (!l || l->rx_by_tc)
		return 0;
	q = BPF_CORE_READ(skb, queue_mapping);
	if (q >= l->rxq_offset)
		q -= l->rxq_offset;
	/* skb->mac_len is set after the tracepoint: the header is what lies before data (none
	 * when mac_header is unset, ~0, as on devices without a link layer) */
	hdr = BPF_CORE_READ(skb, data) - BPF_CORE_READ(skb, head) - BPF_CORE_READ(skb, mac_header);
	if (hdr > 255)
		hdr = 0;
	add(&tc_in_counts, queue_key(l->rx_base, l->rx_queues, q), skb_segs(skb), BPF_CORE_READ(skb, len) + hdr);
	return 0;
}

/* net_dev_queue fires in __dev_queue_xmit once tc egress has run and the TX queue is
 * chosen, before the qdisc: tc egress's place, per link as tc egress counts. */
SEC("tp_btf/net_dev_queue")
int nettune_tx_trace(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	struct link_info *l = traced_link(BPF_CORE_READ(skb, dev));

	if (l)
		add(&tc_eg_counts, l->slot, skb_segs(skb), BPF_CORE_READ(skb, len));
	return 0;
}
