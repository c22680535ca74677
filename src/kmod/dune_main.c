// SPDX-License-Identifier: GPL-2.0
/*
 * dune_main.c - /dev/dune: device, ioctl dispatch, module init/exit.
 *
 * See uapi/dune.h for the ABI and README.md for the design.  The module
 * uses only exported kernel interfaces: no kallsyms or kprobe lookups.
 */
#define pr_fmt(fmt) "dune: " fmt

#include <linux/module.h>
#include <linux/miscdevice.h>
#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/sched/mm.h>

#include "dune_internal.h"

static int dune_open(struct inode *inode, struct file *file)
{
	struct dune_file *df;

	df = kzalloc(sizeof(*df), GFP_KERNEL_ACCOUNT);
	if (!df)
		return -ENOMEM;
	mutex_init(&df->lock);
	INIT_LIST_HEAD(&df->vcpus);
	file->private_data = df;
	return 0;
}

static int dune_release(struct inode *inode, struct file *file)
{
	struct dune_file *df = file->private_data;

	dune_file_reap(df, true);
	kfree(df);
	return 0;
}

static long dune_get_layout(struct dune_layout __user *ul)
{
	struct dune_layout l;

	if (!current->mm)
		return -EINVAL;
	dune_fill_layout(current->mm, &l);
	return copy_to_user(ul, &l, sizeof(l)) ? -EFAULT : 0;
}

static long dune_trap(unsigned int cmd, unsigned long arg)
{
	struct dune_trap_config tc;

	if (cmd == DUNE_TRAP_ENABLE &&
	    copy_from_user(&tc, (void __user *)arg, sizeof(tc)))
		return -EFAULT;
	/* Single-step tracing is not implemented yet (see README). */
	return -EOPNOTSUPP;
}

static long dune_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct dune_file *df = file->private_data;

	switch (cmd) {
	case DUNE_ENTER:
		return dune_ioctl_enter(df, (struct dune_config __user *)arg);
	case DUNE_GET_SYSCALL:
		/*
		 * The original Dune returned the host syscall table so the
		 * guest could call it directly.  dunelab runs every guest
		 * syscall in host context (DUNE_RET_SYSCALL), and finding the
		 * table would need unexported symbols: not provided.
		 */
		return -ENOSYS;
	case DUNE_GET_LAYOUT:
		return dune_get_layout((struct dune_layout __user *)arg);
	case DUNE_TRAP_ENABLE:
	case DUNE_TRAP_DISABLE:
		return dune_trap(cmd, arg);
	case DUNE_QUEUE_INTR:
		return dune_ioctl_queue_intr(df, arg);
	case DUNE_GET_STATS:
		return dune_ioctl_get_stats(df, (struct dune_stats __user *)arg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations dune_fops = {
	.owner		= THIS_MODULE,
	.open		= dune_open,
	.release	= dune_release,
	.unlocked_ioctl	= dune_ioctl,
	.compat_ioctl	= NULL,		/* 64-bit processes only */
	.llseek		= noop_llseek,
};

static struct miscdevice dune_dev = {
	.minor	= DUNE_MINOR,
	.name	= "dune",
	.fops	= &dune_fops,
	.mode	= 0666,
};

static int __init dune_init(void)
{
	int r;

	BUILD_BUG_ON(sizeof(struct dune_config) != 0xb0);
	BUILD_BUG_ON(DUNE_ENTER != 0x80b0e901);
	BUILD_BUG_ON(sizeof(struct dune_layout) != 24);
	BUILD_BUG_ON(DUNE_GET_STATS != 0x84f0e907);

	r = dune_vmx_init();
	if (r)
		return r;
	r = dune_vmcs_init();
	if (r)
		goto vmx_exit;
	r = misc_register(&dune_dev);
	if (r) {
		pr_err("cannot register misc device minor %d (%d)\n", DUNE_MINOR, r);
		goto vmcs_exit;
	}
	pr_info("loaded: /dev/dune ready\n");
	return 0;

vmcs_exit:
	dune_vmcs_exit();
vmx_exit:
	dune_vmx_exit();
	return r;
}

static void __exit dune_exit(void)
{
	/* No file can be open here (module refcount), so no vCPU exists. */
	misc_deregister(&dune_dev);
	/* mmu_notifier_put() frees EPTs via SRCU callbacks: wait for them. */
	mmu_notifier_synchronize();
	dune_vmcs_exit();
	dune_vmx_exit();
}

module_init(dune_init);
module_exit(dune_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("dunelab");
MODULE_DESCRIPTION("Dune: process-level VT-x sandbox (syscalls run in host context)");
MODULE_ALIAS_MISCDEV(DUNE_MINOR);
MODULE_ALIAS("devname:dune");
