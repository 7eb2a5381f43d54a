/*
 * tap-echo: the smallest ICMP echo responder on a TAP, the C floor of bench/latency-floor.sh.
 *
 * Attaches an existing TAP (created by the caller with `ip tuntap add NAME mode tap`), sleeps in
 * epoll_wait, reads one frame at a time and answers every IPv4 ICMP echo request in place:
 * Ethernet addresses swapped, IP addresses swapped, type 8 -> 0 with the checksum adjusted
 * incrementally (RFC 1624). Everything else is dropped. No batching, no polling: one wake-up per
 * request, as an idle tapvsd has.
 *
 *   tap-echo TAP
 *
 * Prints "tap-echo: ready" on stdout once attached; exits on SIGTERM/SIGINT.
 *
 * Build: gcc -O2 -Wall -o tap-echo tap-echo.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

/* Turns an Ethernet + IPv4 + ICMP echo request into its reply; 0 if it is not one. */
static int make_echo_reply(uint8_t *f, ssize_t len) {
  if (len < 14 + 20 + 8 || f[12] != 0x08 || f[13] != 0x00) return 0;
  uint8_t *ip = f + 14;
  int ihl = (ip[0] & 0x0f) * 4;
  if ((ip[0] >> 4) != 4 || ihl < 20 || len < 14 + ihl + 8 || ip[9] != 1) return 0;
  uint8_t *icmp = ip + ihl;
  if (icmp[0] != 8 || icmp[1] != 0) return 0;
  uint8_t tmp[6];
  memcpy(tmp, f, 6);
  memcpy(f, f + 6, 6);
  memcpy(f + 6, tmp, 6);
  memcpy(tmp, ip + 12, 4);
  memcpy(ip + 12, ip + 16, 4);
  memcpy(ip + 16, tmp, 4);
  icmp[0] = 0;
  /* The type word drops by 0x0800: the one's-complement sum rises by the same. */
  uint32_t sum = (uint32_t)((icmp[2] << 8) | icmp[3]) + 0x0800;
  sum = (sum & 0xffff) + (sum >> 16);
  icmp[2] = (uint8_t)(sum >> 8);
  icmp[3] = (uint8_t)sum;
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 2 || strlen(argv[1]) >= IFNAMSIZ) {
    fprintf(stderr, "usage: tap-echo TAP\n");
    return 2;
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    perror("tap-echo: open /dev/net/tun");
    return 1;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  memcpy(ifr.ifr_name, argv[1], strlen(argv[1]));
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    perror("tap-echo: TUNSETIFF");
    return 1;
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
    perror("tap-echo: epoll");
    return 1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  printf("tap-echo: ready\n");
  fflush(stdout);

  uint8_t frame[2048];
  unsigned long answered = 0;
  while (!stop) {
    struct epoll_event got;
    int n = epoll_wait(ep, &got, 1, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("tap-echo: epoll_wait");
      return 1;
    }
    for (;;) {
      ssize_t len = read(fd, frame, sizeof frame);
      if (len < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        perror("tap-echo: read");
        return 1;
      }
      if (make_echo_reply(frame, len) && write(fd, frame, (size_t)len) == len) answered++;
    }
  }
  fprintf(stderr, "tap-echo: answered %lu\n", answered);
  return 0;
}
