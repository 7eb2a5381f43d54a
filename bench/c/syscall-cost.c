// syscall-cost: what one empty call of each kind on tapvsd's wake-up path costs on this machine
// (io_uring_enter with GETEVENTS and nothing to run, an eventfd read that finds nothing, an
// epoll_wait(0) with nothing ready), averaged over a million calls. The denominator for counts of
// system calls per connection (bench/syscalls.sh): docs/dataplane.md, "Built: io_uring in the TAP
// link".   dist/bench/c/syscall-cost
#include <linux/io_uring.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(void) {
  const int n = 1000000;
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  int ring = (int)syscall(__NR_io_uring_setup, 128, &p);
  int efd = eventfd(0, EFD_NONBLOCK);
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN};
  if (ring < 0 || efd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) < 0) {
    perror("setup");
    return 1;
  }
  double t = now_ns();
  for (int i = 0; i < n; i++) syscall(__NR_io_uring_enter, ring, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
  printf("io_uring_enter(GETEVENTS), nothing to run: %.0f ns\n", (now_ns() - t) / n);
  unsigned long long v;
  t = now_ns();
  for (int i = 0; i < n; i++) {
    if (read(efd, &v, sizeof v) > 0) break;
  }
  printf("eventfd read, nothing signalled: %.0f ns\n", (now_ns() - t) / n);
  t = now_ns();
  for (int i = 0; i < n; i++) epoll_wait(ep, &ev, 1, 0);
  printf("epoll_wait(0), nothing ready: %.0f ns\n", (now_ns() - t) / n);
  return 0;
}
