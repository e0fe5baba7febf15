/*
 * sigcatch.c: signal handlers that only write the signal's number, one
 * byte, on a pipe (see sigcatch.go).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "sigcatch.h"

static volatile int rkx_sig_fd = -1;

static void rkx_sig_handler(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	/* Non-blocking: a full pipe drops the signal, as os/signal drops one
	 * whose channel is full. */
	(void)!write(rkx_sig_fd, &b, 1);
	errno = saved;
}

int rkx_sig_catch(int fd, const int *sigs, int n)
{
	struct sigaction sa;

	rkx_sig_fd = fd;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = rkx_sig_handler;
	/* On the thread's alternate stack: Go's goroutine stacks are small. */
	sa.sa_flags = SA_ONSTACK | SA_RESTART;
	sigfillset(&sa.sa_mask);
	for (int i = 0; i < n; i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			return -errno;
	return 0;
}
