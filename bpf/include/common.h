/* Definitions shared by nettune's programs. */
#ifndef NETTUNE_COMMON_H
#define NETTUNE_COMMON_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* TCX_NEXT and TC_ACT_UNSPEC are both -1: "no verdict, run the next program". Returning
 * TCX_PASS (0) would make the kernel skip later filters on the same hook. */
#define NETTUNE_TC_NEXT -1

struct counter {
	__u64 packets;
	__u64 bytes;
};

/* errors counts failed map lookups and updates; Go reports the sum as MapErrors. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} errors SEC(".maps");

static __always_inline void count_error(void)
{
	__u32 zero = 0;
	__u64 *e = bpf_map_lookup_elem(&errors, &zero);

	if (e)
		(*e)++;
}

#endif
