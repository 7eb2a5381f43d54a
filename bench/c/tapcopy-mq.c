/*
 * tapcopy-mq: the copy loop of tapcopy.c, spread over the queues of multi-queue TAPs, one thread
 * per queue: how far "one worker per queue" (docs/dataplane.md, "Several queues and fewer system
 * calls") can lift the single-threaded TAP ceiling on this machine, before anyone builds it into
 * tapvsd.
 *
 *   tapcopy-mq [-v] [-n QUEUES] [-p] TAP_A TAP_B
 *
 *   -v   IFF_VNET_HDR + TUNSETOFFLOAD on every queue, as tapcopy -v
 *   -n   queues per TAP and threads (default 2, at most 16)
 *   -p   pin thread i to CPU i (mod the CPUs this process may use)
 *
 * Both TAPs are opened with IFF_MULTI_QUEUE, QUEUES times each; thread i owns queue i of both and
 * copies in both directions with tapcopy's poll() + read()/write() loop. Nothing is shared between
 * threads but the stop flag, so the threads scale as far as the kernel's TAP queues do.
 *
 * Which queue a frame arrives on is the kernel's choice (drivers/net/tun.c, tun_select_queue):
 * without a steering eBPF program (TUNSETSTEERINGEBPF), tun_automq_select_queue takes the
 * packet's symmetric flow hash (__skb_get_hash_symmetric / the flow dissector: addresses and
 * ports, the same for both directions) and looks it up in the device's flow table; a hit gives
 * the queue recorded there, a miss gives reciprocal_scale(hash, numqueues), i.e. hash * N >> 32.
 * The table is filled from the other direction: when user space writes a frame on queue q
 * (tun_get_user, only with more than one queue), tun_flow_update records that frame's symmetric
 * hash -> q; entries age out after about 3 s idle (TUN_FLOW_EXPIRE), at most 4096 flows. So a
 * flow's replies come back to the queue whose thread forwarded its requests, each thread keeps
 * its flows, and new flows spread by hash: one TCP stream uses one queue (one thread) only.
 *
 * Prints "tapcopy-mq: ready" on stdout once every queue exists; on SIGTERM/SIGINT prints the
 * counters (per queue, to show how the flows spread) on stderr and exits.
 *
 * Build: gcc -O2 -Wall -pthread -o tapcopy-mq tapcopy-mq.c
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>

#include "tap-open.h"

#define BATCH 64
#define MAX_QUEUES 16

/** Set by main on SIGTERM/SIGINT (taken with sigwait), read by every worker between polls. */
static volatile int stop;

/** One thread's queue pair and counters (direction 0: A->B, 1: B->A). */
struct worker {
  pthread_t thread;
  int index;
  int cpu; /* -1: not pinned */
  int fd[2];
  uint64_t frames[2], bytes[2], drops[2], wakeups;
};

static void *copy_queue(void *arg) {
  struct worker *w = arg;
  if (w->cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(w->cpu, &set);
    int e = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (e != 0) fprintf(stderr, "tapcopy-mq: queue %d: pinning to CPU %d: %s\n", w->index, w->cpu, strerror(e));
  }
  unsigned char *buf = malloc(TAP_FRAME_MAX); /* once per thread, before any frame */
  if (buf == NULL) { perror("malloc"); exit(1); }
  struct pollfd p[2] = { { .fd = w->fd[0], .events = POLLIN }, { .fd = w->fd[1], .events = POLLIN } };
  while (!stop) {
    int r = poll(p, 2, 500); /* bounded so the stop flag is seen without a signal in this thread */
    if (r < 0) { if (errno == EINTR) continue; perror("poll"); break; }
    if (r == 0) continue;
    w->wakeups++;
    for (int i = 0; i < 2; i++) {
      if (!(p[i].revents & POLLIN)) continue;
      for (int n = 0; n < BATCH; n++) {
        ssize_t len = read(w->fd[i], buf, TAP_FRAME_MAX);
        if (len < 0) { if (errno != EAGAIN && errno != EINTR) perror("read"); break; }
        if (len == 0) break;
        if (write(w->fd[1 - i], buf, (size_t)len) != len) { w->drops[i]++; continue; }
        w->frames[i]++;
        w->bytes[i] += (uint64_t)len;
      }
    }
  }
  free(buf);
  return NULL;
}

int main(int argc, char **argv) {
  int flags = TAP_NONBLOCK | TAP_MULTI_QUEUE, queues = 2, pin = 0, opt;
  while ((opt = getopt(argc, argv, "vn:p")) != -1) {
    switch (opt) {
      case 'v': flags |= TAP_VNET; break;
      case 'n': queues = atoi(optarg); break;
      case 'p': pin = 1; break;
      default: queues = 0;
    }
  }
  if (argc - optind != 2 || queues < 1 || queues > MAX_QUEUES) {
    fprintf(stderr, "usage: tapcopy-mq [-v] [-n QUEUES (1..%d)] [-p] TAP_A TAP_B\n", MAX_QUEUES);
    return 2;
  }
  const char *name[2] = { argv[optind], argv[optind + 1] };

  sigset_t sigs = block_stop_signals(); /* main takes them with sigwait() below */

  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) < 0) { perror("sched_getaffinity"); return 1; }
  int cpus[CPU_SETSIZE], ncpus = 0;
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, &allowed)) cpus[ncpus++] = c;

  /* Queue i of a device is its i-th attached file (tun_attach numbers them in order). */
  static struct worker w[MAX_QUEUES];
  for (int q = 0; q < queues; q++) {
    w[q].index = q;
    w[q].cpu = pin && ncpus > 0 ? cpus[q % ncpus] : -1;
    w[q].fd[0] = tap_open(name[0], flags);
    w[q].fd[1] = tap_open(name[1], flags);
  }
  for (int q = 0; q < queues; q++) {
    int e = pthread_create(&w[q].thread, NULL, copy_queue, &w[q]);
    if (e != 0) { fprintf(stderr, "pthread_create: %s\n", strerror(e)); return 1; }
  }
  printf("tapcopy-mq: ready %s %s, %d queues%s%s\n", name[0], name[1], queues,
         (flags & TAP_VNET) ? " (vnet_hdr, offloads)" : "", pin ? ", pinned" : "");
  fflush(stdout);

  int sig;
  sigwait(&sigs, &sig);
  stop = 1;
  uint64_t frames[2] = { 0, 0 }, bytes[2] = { 0, 0 }, drops[2] = { 0, 0 }, wakeups = 0;
  for (int q = 0; q < queues; q++) {
    pthread_join(w[q].thread, NULL);
    for (int i = 0; i < 2; i++) {
      frames[i] += w[q].frames[i];
      bytes[i] += w[q].bytes[i];
      drops[i] += w[q].drops[i];
    }
    wakeups += w[q].wakeups;
  }
  fprintf(stderr, "tapcopy-mq: %s->%s %llu frames %llu bytes %llu drops; %s->%s %llu frames %llu bytes %llu drops; %llu wakeups; per queue frames A->B/B->A:",
    name[0], name[1], (unsigned long long)frames[0], (unsigned long long)bytes[0], (unsigned long long)drops[0],
    name[1], name[0], (unsigned long long)frames[1], (unsigned long long)bytes[1], (unsigned long long)drops[1],
    (unsigned long long)wakeups);
  for (int q = 0; q < queues; q++)
    fprintf(stderr, " q%d %llu/%llu", q, (unsigned long long)w[q].frames[0], (unsigned long long)w[q].frames[1]);
  fprintf(stderr, "\n");
  for (int q = 0; q < queues; q++) {
    close(w[q].fd[0]);
    close(w[q].fd[1]);
  }
  return 0;
}
