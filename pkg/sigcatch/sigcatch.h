#ifndef RKX_SIGCATCH_H
#define RKX_SIGCATCH_H
/* rkx_sig_catch installs, for each of sigs, a handler that writes its
 * number (one byte) on fd, a non-blocking pipe. It returns 0 or -errno. */
int rkx_sig_catch(int fd, const int *sigs, int n);
#endif
