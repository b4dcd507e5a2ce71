// SPDX-License-Identifier: GPL-2.0
/*
 * gmem_hold fd|mmap: hold a guest_memfd and nothing else of KVM, until
 * killed.  module_lifecycle runs it to check that the guest_memfd alone
 * keeps kvm.ko and the vendor module loaded.
 *
 * It creates a VM and a 2 MiB guest_memfd of it, allocates the memory,
 * then closes the VM's fd and /dev/kvm.  "fd" keeps the guest_memfd's fd
 * (of a KVM_X86_SW_PROTECTED_VM); "mmap" maps the file (of a default VM,
 * the type whose guest_memfd can be mapped: GUEST_MEMFD_FLAG_MMAP), writes
 * every page, and closes the fd too, so that only the mapping holds the
 * file.  Then it prints "ready" and waits.
 *
 * Built static against the series' uAPI headers (kt's build/hdr).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#define SIZE (2UL << 20)

static void die(const char *what)
{
	perror(what);
	exit(1);
}

int main(int argc, char **argv)
{
	struct kvm_create_guest_memfd gmem = { .size = SIZE };
	int use_mmap, type, kvm, vm, fd;
	char *p;

	if (argc != 2 || (strcmp(argv[1], "fd") && strcmp(argv[1], "mmap"))) {
		fprintf(stderr, "usage: %s fd|mmap\n", argv[0]);
		return 2;
	}
	use_mmap = !strcmp(argv[1], "mmap");
	type = KVM_X86_SW_PROTECTED_VM;
	if (use_mmap) {
		type = KVM_X86_DEFAULT_VM;
		gmem.flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED;
	}

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("open /dev/kvm");
	vm = ioctl(kvm, KVM_CREATE_VM, type);
	if (vm < 0)
		die("KVM_CREATE_VM");
	fd = ioctl(vm, KVM_CREATE_GUEST_MEMFD, &gmem);
	if (fd < 0)
		die("KVM_CREATE_GUEST_MEMFD");
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, SIZE))
		die("fallocate");
	if (use_mmap) {
		p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			die("mmap");
		memset(p, 0xa5, SIZE);
		close(fd);
	}
	close(vm);
	close(kvm);

	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
