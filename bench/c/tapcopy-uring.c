/*
 * tapcopy-uring: the copy loop of tapcopy.c with its system calls batched through io_uring: how far
 * "fewer system calls" (docs/dataplane.md, "Several queues and fewer system calls") can lift the
 * single-threaded TAP ceiling on this machine, before anyone builds it into tapvsd.
 *
 *   tapcopy-uring [-v] [-d DEPTH] [-s] [-n QUEUES] TAP_A TAP_B
 *
 *   -v   IFF_VNET_HDR + TUNSETOFFLOAD on both TAPs, as tapcopy -v
 *   -d   buffers (64 KB each) per TAP, i.e. frames that can be read ahead (default 128, a power of
 *        two, at most 256)
 *   -s   DEPTH single-shot IORING_OP_READs outstanding per TAP instead of one multishot read
 *   -n   QUEUES > 1: both mechanisms at once: IFF_MULTI_QUEUE TAPs, thread i with its own ring on
 *        queue i of each (as tapcopy-mq.c, whose comment says how the kernel picks the queue)
 *
 * One thread, one ring (per queue with -n). Reads wait on each TAP; a completed read becomes an
 * IORING_OP_WRITE of the same buffer to the other TAP, and a completed write gives the buffer back. Nothing
 * is submitted one by one: every write and re-read that the completions of one wake-up produce
 * goes to the kernel with the next io_uring_enter, which also waits for the next completion, so a
 * busy loop costs one system call per batch of frames where tapcopy costs a read() and a write()
 * per frame plus a poll() per batch.
 *
 * Reads: by default one IORING_OP_READ_MULTISHOT (Linux 6.7) per TAP with a provided-buffer ring
 * of DEPTH buffers (IOSQE_BUFFER_SELECT): it stays armed on the TAP's poll wait queue and posts one
 * completion per frame, each in the next free buffer, until the buffers run out (-ENOBUFS: it is
 * re-armed once writes have given buffers back; the frames wait in the TAP's queue meanwhile).
 * With -s, DEPTH ordinary reads wait on each TAP instead. Measured on Linux 6.18: reads end up in
 * io-wq worker threads (5 "iou-wrk" threads in a 3 s test) that block in the TAP's read(), so the
 * copying happens in kernel worker threads instead of in batches, which is not the mechanism to
 * measure. (Our reading of io_uring: a frame wakes every parked read of the TAP, and one that
 * finds the queue empty again after its wake-up is punted to io-wq instead of parked again.) The multishot read is one waiter per TAP and never punts.
 *
 * The ring is set up with IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN when the kernel
 * has them (6.1): the kernel's completion work then runs only inside our io_uring_enter, in one
 * batch, instead of interrupting the loop. The TAP fds are blocking (no O_NONBLOCK): with
 * O_NONBLOCK, single-shot reads sometimes completed with -EAGAIN in user space (29 in a 3 s test,
 * besides an io-wq worker); the multishot read forwarded the same with either (tested by hand).
 *
 * Prints "tapcopy-uring: ready" on stdout once both TAPs and the rings exist; on SIGTERM/SIGINT
 * prints its counters on stderr (with the threads the process has then: more than the copiers and
 * main means io-wq workers) and exits. Copiers wait at most 500 ms per io_uring_enter, so they see
 * the stop flag without a signal of their own.
 *
 * Build: gcc -O2 -Wall -pthread -o tapcopy-uring tapcopy-uring.c (tap-open.h, uring-mini.h beside it)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <signal.h>

#include "tap-open.h"
#include "uring-mini.h"

#define MAX_DEPTH 256
#define MAX_QUEUES 16

/** Set by main on SIGTERM/SIGINT (taken with sigwait), read by every copier between waits. */
static volatile int stop;
static int multishot = 1;
static int depth = 128;

/* user_data: bit 31 the side read from (0: A, 1: B), bit 30 a write, bit 29 the multishot read,
 * the low 16 bits the buffer (single-shot reads and writes). */
#define UD_SIDE 0x80000000u
#define UD_WRITE 0x40000000u
#define UD_MULTISHOT 0x20000000u
#define UD_BUF 0x0000ffffu

/** One thread's TAP queue pair, ring, buffers and counters (direction 0: A->B, 1: B->A). */
struct copier {
  pthread_t thread;
  int index;
  int fd[2];
  unsigned char *bufs[2][MAX_DEPTH];
  struct uring ring;
  struct uring_bufring pool[2]; /* multishot: buffer group `side` feeds the reads of TAP `side` */
  int armed[2];                 /* multishot: the read of TAP `side` is queued or in flight */
  int in_pool[2];               /* multishot: buffers of group `side` the kernel may still fill */
  uint64_t frames[2], bytes[2], drops[2], enters, cqes, read_errors, rearms, nobufs;
  int last_read_error, last_write_error;
};

static int queue_read(struct copier *c, int side, unsigned b) {
  struct io_uring_sqe *sqe = uring_sqe(&c->ring);
  if (sqe == NULL) return -1;
  uring_prep_rw(sqe, IORING_OP_READ, c->fd[side], c->bufs[side][b], TAP_FRAME_MAX, (side ? UD_SIDE : 0) | b);
  return 0;
}

static int arm_multishot(struct copier *c, int side) {
  struct io_uring_sqe *sqe = uring_sqe(&c->ring);
  if (sqe == NULL) return -1;
  uring_prep_rw(sqe, IORING_OP_READ_MULTISHOT, c->fd[side], NULL, 0, (side ? UD_SIDE : 0) | UD_MULTISHOT);
  sqe->flags = IOSQE_BUFFER_SELECT;
  sqe->buf_group = (uint16_t)side;
  c->armed[side] = 1;
  return 0;
}

static int queue_write(struct copier *c, int side, unsigned b, unsigned len) {
  struct io_uring_sqe *sqe = uring_sqe(&c->ring);
  if (sqe == NULL) return -1;
  uring_prep_rw(sqe, IORING_OP_WRITE, c->fd[1 - side], c->bufs[side][b], len, (side ? UD_SIDE : 0) | UD_WRITE | b);
  return 0;
}

/** A buffer whose write completed can take the next frame of its TAP. */
static int give_back(struct copier *c, int side, unsigned b) {
  if (!multishot) return queue_read(c, side, b);
  uring_bufring_add(&c->pool[side], c->bufs[side][b], TAP_FRAME_MAX, b);
  c->in_pool[side]++;
  return 0;
}

/**
 * The ring is made here, in the thread that submits: IORING_SETUP_SINGLE_ISSUER binds it to the
 * task that creates it. Exits the process on a set-up failure.
 */
static void copier_setup(struct copier *c) {
  for (int s = 0; s < 2; s++)
    for (int b = 0; b < depth; b++)
      if ((c->bufs[s][b] = malloc(TAP_FRAME_MAX)) == NULL) { perror("malloc"); exit(1); }
  /* Every buffer has at most one operation queued or in flight, plus one multishot read per TAP. */
  const unsigned choices[] = { IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, IORING_SETUP_COOP_TASKRUN, 0 };
  int e = uring_init(&c->ring, 2 * (unsigned)depth + 2, choices);
  if (e < 0) { fprintf(stderr, "io_uring_setup: %s\n", strerror(-e)); exit(1); }
  for (int s = 0; s < 2; s++) {
    if (multishot) {
      if ((e = uring_bufring_init(&c->ring, &c->pool[s], (unsigned)depth, (unsigned)s)) < 0) {
        fprintf(stderr, "IORING_REGISTER_PBUF_RING: %s\n", strerror(-e));
        exit(1);
      }
      for (int b = 0; b < depth; b++) give_back(c, s, (unsigned)b);
      uring_bufring_publish(&c->pool[s]);
      e = arm_multishot(c, s);
    } else {
      for (int b = 0; b < depth && e >= 0; b++) e = queue_read(c, s, (unsigned)b);
    }
    if (e < 0) { fprintf(stderr, "io_uring: no SQE for the first reads\n"); exit(1); }
  }
}

/** One completion: a write done gives its buffer back, a frame read becomes a write. */
static int on_completion(struct copier *c, const struct io_uring_cqe *cqe) {
  unsigned ud = (unsigned)cqe->user_data, b = ud & UD_BUF;
  int side = (ud & UD_SIDE) ? 1 : 0, res = cqe->res;
  c->cqes++;
  if (ud & UD_WRITE) {
    /* The write's length is not in its CQE: a failed write is a drop (a TAP write is whole or nothing). */
    if (res > 0) { c->frames[side]++; c->bytes[side] += (uint64_t)res; }
    else { c->drops[side]++; c->last_write_error = -res; }
    return give_back(c, side, b);
  }
  if (ud & UD_MULTISHOT) {
    if (!(cqe->flags & IORING_CQE_F_MORE)) c->armed[side] = 0;
    if (cqe->flags & IORING_CQE_F_BUFFER) c->in_pool[side]--;
    if (res > 0 && (cqe->flags & IORING_CQE_F_BUFFER))
      return queue_write(c, side, cqe->flags >> IORING_CQE_BUFFER_SHIFT, (unsigned)res);
    if (res == -ENOBUFS) c->nobufs++;
    else if (res < 0) { c->read_errors++; c->last_read_error = -res; }
    return 0;
  }
  if (res > 0) return queue_write(c, side, b, (unsigned)res);
  if (res < 0) { c->read_errors++; c->last_read_error = -res; }
  return queue_read(c, side, b);
}

static pthread_barrier_t ready;

static void *copy_loop(void *arg) {
  struct copier *c = arg;
  copier_setup(c);
  pthread_barrier_wait(&ready);
  while (!stop) {
    int n = uring_submit_and_wait(&c->ring, 500);
    if (n < 0 && n != -EINTR && n != -EAGAIN && n != -EBUSY && n != -ETIME) {
      fprintf(stderr, "io_uring_enter: %s\n", strerror(-n));
      break;
    }
    c->enters++;
    unsigned head = *c->ring.cq_head, tail = __atomic_load_n(c->ring.cq_tail, __ATOMIC_ACQUIRE);
    for (; head != tail; head++) {
      if (on_completion(c, &c->ring.cqes[head & c->ring.cq_mask]) < 0) {
        fprintf(stderr, "io_uring: SQ full\n");
        stop = 1;
      }
    }
    __atomic_store_n(c->ring.cq_head, head, __ATOMIC_RELEASE);
    if (multishot) {
      for (int s = 0; s < 2; s++) {
        uring_bufring_publish(&c->pool[s]);
        /* Re-arm only with a buffer to read into, or it ends at once with -ENOBUFS again. */
        if (!c->armed[s] && c->in_pool[s] > 0 && arm_multishot(c, s) == 0) c->rearms++;
      }
    }
    if (c->read_errors > 1000000) {
      fprintf(stderr, "io_uring: reads keep failing: %s\n", strerror(c->last_read_error));
      break;
    }
  }
  return NULL;
}

static int count_threads(void) {
  DIR *d = opendir("/proc/self/task");
  if (d == NULL) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

int main(int argc, char **argv) {
  int flags = 0, queues = 1, opt;
  while ((opt = getopt(argc, argv, "vd:sn:")) != -1) {
    switch (opt) {
      case 'v': flags |= TAP_VNET; break;
      case 'd': depth = atoi(optarg); break;
      case 's': multishot = 0; break;
      case 'n': queues = atoi(optarg); break;
      default: depth = 0;
    }
  }
  if (argc - optind != 2 || depth < 1 || depth > MAX_DEPTH || (depth & (depth - 1)) != 0 || queues < 1 ||
      queues > MAX_QUEUES) {
    fprintf(stderr, "usage: tapcopy-uring [-v] [-d DEPTH (a power of two, 1..%d)] [-s] [-n QUEUES (1..%d)] TAP_A TAP_B\n",
            MAX_DEPTH, MAX_QUEUES);
    return 2;
  }
  if (queues > 1) flags |= TAP_MULTI_QUEUE;
  const char *name[2] = { argv[optind], argv[optind + 1] };

  sigset_t sigs = block_stop_signals(); /* main takes them with sigwait() below */

  /* Queue i of a device is its i-th attached file (tun_attach numbers them in order). */
  static struct copier cp[MAX_QUEUES];
  for (int q = 0; q < queues; q++) {
    cp[q].index = q;
    cp[q].fd[0] = tap_open(name[0], flags);
    cp[q].fd[1] = tap_open(name[1], flags);
  }
  pthread_barrier_init(&ready, NULL, (unsigned)queues + 1);
  for (int q = 0; q < queues; q++) {
    int e = pthread_create(&cp[q].thread, NULL, copy_loop, &cp[q]);
    if (e != 0) { fprintf(stderr, "pthread_create: %s\n", strerror(e)); return 1; }
  }
  pthread_barrier_wait(&ready);
  printf("tapcopy-uring: ready %s %s, %s, %d buffers per TAP, %d queue(s), ring flags 0x%x%s\n", name[0], name[1],
         multishot ? "multishot reads" : "single-shot reads", depth, queues, cp[0].ring.setup_flags,
         (flags & TAP_VNET) ? " (vnet_hdr, offloads)" : "");
  fflush(stdout);

  int sig;
  sigwait(&sigs, &sig);
  stop = 1;
  struct copier sum;
  memset(&sum, 0, sizeof sum);
  int threads = count_threads(); /* before the joins: io-wq workers would show up here */
  for (int q = 0; q < queues; q++) {
    struct copier *c = &cp[q];
    pthread_join(c->thread, NULL);
    for (int i = 0; i < 2; i++) {
      sum.frames[i] += c->frames[i];
      sum.bytes[i] += c->bytes[i];
      sum.drops[i] += c->drops[i];
    }
    sum.enters += c->enters;
    sum.cqes += c->cqes;
    sum.rearms += c->rearms;
    sum.nobufs += c->nobufs;
    sum.read_errors += c->read_errors;
    if (c->last_read_error != 0) sum.last_read_error = c->last_read_error;
    if (c->last_write_error != 0) sum.last_write_error = c->last_write_error;
  }
  fprintf(stderr, "tapcopy-uring: %s->%s %llu frames %llu bytes %llu drops; %s->%s %llu frames %llu bytes %llu drops; "
    "%llu io_uring_enter, %.1f completions each; %llu multishot re-arms (%llu out of buffers); %llu read errors (last: %s); "
    "last write error: %s; %d threads (%d copiers + main) before the end",
    name[0], name[1], (unsigned long long)sum.frames[0], (unsigned long long)sum.bytes[0], (unsigned long long)sum.drops[0],
    name[1], name[0], (unsigned long long)sum.frames[1], (unsigned long long)sum.bytes[1], (unsigned long long)sum.drops[1],
    (unsigned long long)sum.enters, sum.enters > 0 ? (double)sum.cqes / (double)sum.enters : 0.0,
    (unsigned long long)sum.rearms, (unsigned long long)sum.nobufs, (unsigned long long)sum.read_errors,
    sum.read_errors > 0 ? strerror(sum.last_read_error) : "none",
    sum.last_write_error != 0 ? strerror(sum.last_write_error) : "none", threads, queues);
  if (queues > 1) {
    fprintf(stderr, "; per queue frames A->B/B->A:");
    for (int q = 0; q < queues; q++)
      fprintf(stderr, " q%d %llu/%llu", q, (unsigned long long)cp[q].frames[0], (unsigned long long)cp[q].frames[1]);
  }
  fprintf(stderr, "\n");
  for (int q = 0; q < queues; q++) {
    close(cp[q].ring.fd);
    close(cp[q].fd[0]);
    close(cp[q].fd[1]);
  }
  return 0;
}
