/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * --cgroup PATH in BPF (issue 13): a task counts only if the cgroup v2 subtree
 * rooted at sz_cg_id is its cgroup or an ancestor of it, compared by id at
 * the subtree's level (cgroup->ancestors[], no map, no helper).  Works on any
 * task: the current one of a uprobe or mmap, an exec's, a fork's child, an
 * iterator's.  Set sz_cg_id (the directory's inode, the kernfs id) and
 * sz_cg_level before load; 0 keeps every task.  Include after vmlinux.h.
 */
#ifndef SZ_BPF_CGROUP_H
#define SZ_BPF_CGROUP_H

const volatile __u64 sz_cg_id = 0;
const volatile __u32 sz_cg_level = 0;

static __always_inline int sz_cg_ok(struct task_struct *t)
{
	struct cgroup *cg, *anc = NULL;
	__u32 level = sz_cg_level;

	if (!sz_cg_id)
		return 1;
	cg = BPF_CORE_READ(t, cgroups, dfl_cgrp);
	if (!cg || BPF_CORE_READ(cg, level) < (int)level || level > 1024)
		return 0;
	if (bpf_core_read(&anc, sizeof(anc), &cg->ancestors[level]))
		return 0;
	return anc && BPF_CORE_READ(anc, kn, id) == sz_cg_id;
}

#endif
