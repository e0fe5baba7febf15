//go:build linux

// Package idle makes a process of rkexec that mostly waits (the parent and the child while the
// sandbox runs) give back what its start-up left mapped: the pages of the binary's code and read-only
// data. A start runs code all over a 12 MB binary, and the kernel's fault-around maps 64 KiB around
// every page touched, so each process ends up holding most of the file, which counts in its PSS (and
// keeps the pages on the active list). Those pages are clean copies of the file: unmapped, they stay
// in the page cache, where the kernel may reclaim them, and the next use maps them again with a minor
// fault. Writable segments (data, bss, the relocated RELRO part) are left alone, and so is a binary
// with text relocations.
//
// It does not decide when a process is idle: its callers start the timer once their waiting begins.
package idle

/*
#include <stdint.h>
#include <elf.h>
#include <link.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

// rkx_release_text unmaps the resident pages of the main executable's read-only PT_LOAD segments
// (MADV_DONTNEED: they are file pages, read again on the next access). Only whole pages inside a
// segment: a page shared with a writable neighbour is kept. A binary with text relocations (its
// read-only segments written by the loader) is left alone. It returns the bytes advised.
static long rkx_release_text(void)
{
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
	unsigned long n = getauxval(AT_PHNUM);
	uintptr_t bias = 0, pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	long done = 0;

	if (ph == NULL || n == 0 || pg == 0)
		return 0;
	for (unsigned long i = 0; i < n; i++)
		if (ph[i].p_type == PT_PHDR)
			bias = (uintptr_t)ph - ph[i].p_vaddr;
	for (unsigned long i = 0; i < n; i++) {
		if (ph[i].p_type != PT_DYNAMIC)
			continue;
		for (const ElfW(Dyn) *d = (const ElfW(Dyn) *)(bias + ph[i].p_vaddr); d->d_tag != DT_NULL; d++)
			if (d->d_tag == DT_TEXTREL || (d->d_tag == DT_FLAGS && (d->d_un.d_val & DF_TEXTREL)))
				return 0;
	}
	for (unsigned long i = 0; i < n; i++) {
		uintptr_t start, end;

		if (ph[i].p_type != PT_LOAD || (ph[i].p_flags & PF_W) || ph[i].p_filesz != ph[i].p_memsz)
			continue;
		start = (bias + ph[i].p_vaddr + pg - 1) & ~(pg - 1);
		end = (bias + ph[i].p_vaddr + ph[i].p_memsz) & ~(pg - 1);
		if (end <= start)
			continue;
		if (madvise((void *)start, end - start, MADV_DONTNEED) == 0)
			done += (long)(end - start);
	}
	return done;
}
*/
import "C"

import "time"

// Delay is how long a role waits before Release: a sandbox that ends sooner never pays for it.
const Delay = 500 * time.Millisecond

// After runs Release once d has passed, unless stop is called first.
func After(d time.Duration) (stop func()) {
	t := time.AfterFunc(d, Release)
	return func() { t.Stop() }
}

// Release unmaps the resident pages of the binary's read-only segments (see the package doc). It
// does not collect the heap: a collection starts worker threads, whose stacks cost more than the
// start-up's garbage (measured: no smaller PSS with debug.FreeOSMemory).
func Release() {
	C.rkx_release_text()
}
