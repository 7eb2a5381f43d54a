/*
 * tapcopy: the "TAP path ceiling" yardstick for bench/.
 *
 * Creates two TAP devices and copies every frame read from one to the other, unchanged: a plain
 * poll() + read()/write() loop, no NAT, no parsing, no batching beyond "read until EAGAIN (at most
 * BATCH frames), writing each frame as it comes". What tapvsd does per frame on top of this
 * (parse, look up, rewrite, route) is what the benchmark compares against it.
 *
 *   tapcopy [-v] TAP_A TAP_B
 *
 *   -v   open both TAPs with IFF_VNET_HDR and TUNSETOFFLOAD (csum, TSO4, TSO6, and USO where the
 *        kernel accepts it): the kernel hands over GSO super-frames of up to 64 KB, each with a
 *        10/12-byte virtio_net_hdr that is passed through unchanged.
 *
 * The devices are not persistent: they disappear when the process exits. The caller enslaves
 * them to bridges and sets them up (`ip link set TAP master BR up`). Prints "tapcopy: ready"
 * on stdout once both exist; on SIGTERM/SIGINT prints its counters on stderr and exits.
 *
 * Build: gcc -O2 -Wall -o tapcopy tapcopy.c (tap-open.h beside it). Variants that change how frames
 * move, not what is copied: tapcopy-mq.c (one thread per TAP queue), tapcopy-uring.c (io_uring).
 */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <stdint.h>

#include "tap-open.h"

#define BATCH 64
#define BUFSZ TAP_FRAME_MAX

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv) {
  int vnet = 0, ai = 1;
  if (argc > 1 && strcmp(argv[1], "-v") == 0) { vnet = 1; ai = 2; }
  if (argc - ai != 2) { fprintf(stderr, "usage: tapcopy [-v] TAP_A TAP_B\n"); return 2; }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  int flags = TAP_NONBLOCK | (vnet ? TAP_VNET : 0);
  int fd[2] = { tap_open(argv[ai], flags), tap_open(argv[ai + 1], flags) };
  printf("tapcopy: ready %s %s%s\n", argv[ai], argv[ai + 1], vnet ? " (vnet_hdr, offloads)" : "");
  fflush(stdout);

  static unsigned char buf[BUFSZ];
  uint64_t frames[2] = { 0, 0 }, bytes[2] = { 0, 0 }, drops[2] = { 0, 0 }, wakeups = 0;
  struct pollfd p[2] = { { .fd = fd[0], .events = POLLIN }, { .fd = fd[1], .events = POLLIN } };
  while (!stop) {
    int r = poll(p, 2, 500);
    if (r < 0) { if (errno == EINTR) continue; perror("poll"); break; }
    if (r == 0) continue;
    wakeups++;
    for (int i = 0; i < 2; i++) {
      if (!(p[i].revents & POLLIN)) continue;
      for (int n = 0; n < BATCH; n++) {
        ssize_t len = read(fd[i], buf, sizeof buf);
        if (len < 0) { if (errno != EAGAIN && errno != EINTR) perror("read"); break; }
        if (len == 0) break;
        if (write(fd[1 - i], buf, (size_t)len) != len) { drops[i]++; continue; }
        frames[i]++;
        bytes[i] += (uint64_t)len;
      }
    }
  }
  fprintf(stderr, "tapcopy: %s->%s %llu frames %llu bytes %llu drops; %s->%s %llu frames %llu bytes %llu drops; %llu wakeups\n",
    argv[ai], argv[ai + 1], (unsigned long long)frames[0], (unsigned long long)bytes[0], (unsigned long long)drops[0],
    argv[ai + 1], argv[ai], (unsigned long long)frames[1], (unsigned long long)bytes[1], (unsigned long long)drops[1],
    (unsigned long long)wakeups);
  close(fd[0]);
  close(fd[1]);
  return 0;
}
