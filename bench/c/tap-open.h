/*
 * tap-open.h: opening a TAP device (or one queue of a multi-queue TAP) the way bench/c's copy
 * loops need it, in one place so tapcopy, tapcopy-mq and tapcopy-uring measure the same device
 * set-up and differ only in how they move frames.
 *
 * Header-only (one static function) because bench/run.mjs compiles each bench/c/X.c on its own.
 */
#ifndef TAPVS_BENCH_TAP_OPEN_H
#define TAPVS_BENCH_TAP_OPEN_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

/** Room for a 64 KB GSO super-frame plus its virtio_net_hdr. */
#define TAP_FRAME_MAX (65536 + 64)

enum tap_open_flags {
  /** IFF_VNET_HDR + TUNSETOFFLOAD (csum, TSO4/6, USO when accepted): GSO super-frames pass whole. */
  TAP_VNET = 1,
  /** IFF_MULTI_QUEUE: each open of the same name attaches one more queue (Linux >= 3.8). */
  TAP_MULTI_QUEUE = 2,
  /** O_NONBLOCK: for poll() loops. tapcopy-uring.c keeps its fds blocking (its comment says why). */
  TAP_NONBLOCK = 4,
};

/** Opens (creating, or attaching a queue to) TAP `name`; exits with a message on failure. */
static int tap_open(const char *name, int flags) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | ((flags & TAP_NONBLOCK) ? O_NONBLOCK : 0));
  if (fd < 0) { perror("open /dev/net/tun"); exit(1); }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | ((flags & TAP_VNET) ? IFF_VNET_HDR : 0) |
                  ((flags & TAP_MULTI_QUEUE) ? IFF_MULTI_QUEUE : 0);
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) { fprintf(stderr, "TUNSETIFF %s: %s\n", name, strerror(errno)); exit(1); }
  if (flags & TAP_VNET) {
    int hdr = 12; /* virtio_net_hdr_mrg_rxbuf: the same size the kernel uses for modern vhost */
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) { perror("TUNSETVNETHDRSZ"); exit(1); }
    unsigned long off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    if (ioctl(fd, TUNSETOFFLOAD, off | TUN_F_USO4 | TUN_F_USO6) < 0 && ioctl(fd, TUNSETOFFLOAD, off) < 0) {
      perror("TUNSETOFFLOAD");
      exit(1);
    }
  }
  return fd;
}

/*
 * The multi-threaded loops stop on SIGTERM/SIGINT taken by main with sigwait(): block both in
 * main before any thread starts (threads inherit the mask), so no copier is interrupted.
 */
static inline sigset_t block_stop_signals(void) {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  return sigs;
}

#endif
