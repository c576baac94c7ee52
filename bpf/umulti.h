/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Shared by bpf/umulti.bpf.c and src/consumers/uprobe_multi.c: the counting
 * program behind many uprobes at once, one slot per BPF cookie.
 */
#ifndef SZ_UMULTI_BPF_H
#define SZ_UMULTI_BPF_H

#define SZ_UMULTI_MAX_COOKIES (1u << 20) /* the kernel's MAX_UPROBE_MULTI_CNT */

#endif
