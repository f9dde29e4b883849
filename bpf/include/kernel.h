/* Kernel-internal types the programs read, reduced to the fields they touch. They are
 * relocated at load time against the running kernel's BTF (CO-RE), so their layout here
 * does not matter: only field names and types must match the kernel's. */
#ifndef NETTUNE_KERNEL_H
#define NETTUNE_KERNEL_H

#include <linux/types.h>

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} possible_net_t;

struct net_device {
	int ifindex;
	possible_net_t nd_net;
} __attribute__((preserve_access_index));

struct xdp_rxq_info {
	struct net_device *dev;
} __attribute__((preserve_access_index));

struct xdp_buff {
	struct xdp_rxq_info *rxq;
} __attribute__((preserve_access_index));

struct sock_common {
	possible_net_t skc_net;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));

struct skb_shared_info {
	unsigned short gso_segs;
} __attribute__((preserve_access_index));

struct sk_buff {
	struct net_device *dev;
	struct sock *sk;
	unsigned int len;
	__u16 queue_mapping;
	__u16 mac_header;
	unsigned char *head;
	unsigned char *data;
	unsigned int end;
} __attribute__((preserve_access_index));

#endif
