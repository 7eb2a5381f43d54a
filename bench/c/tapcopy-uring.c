/*
 * tapcopy-uring: the copy loop of tapcopy.c with its system calls batched through io_uring: how far
 * "fewer system calls" (docs/dataplane.md, "Several queues and fewer system calls") can lift the
 * single-threaded TAP ceiling on this machine, before anyone builds it into tapvsd.
 *
 *   tapcopy-uring [-v] [-d DEPTH] [-s] TAP_A TAP_B
 *
 *   -v   IFF_VNET_HDR + TUNSETOFFLOAD on both TAPs, as tapcopy -v
 *   -d   buffers (64 KB each) per TAP, i.e. frames that can be read ahead (default 128, a power of
 *        two, at most 256)
 *   -s   DEPTH single-shot IORING_OP_READs outstanding per TAP instead of one multishot read
 *
 * One thread, one ring. Reads wait on each TAP; a completed read becomes an IORING_OP_WRITE of the
 * same buffer to the other TAP, and a completed write gives the buffer back for reading. Nothing
 * is submitted one by one: every write and re-read that the completions of one wake-up produce
 * goes to the kernel with the next io_uring_enter, which also waits for the next completion, so a
 * busy loop costs one system call per batch of frames where tapcopy costs a read() and a write()
 * per frame plus a poll() per batch.
 *
 * Reads: by default one IORING_OP_READ_MULTISHOT (Linux 6.7) per TAP with a provided-buffer ring
 * of DEPTH buffers (IOSQE_BUFFER_SELECT): it stays armed on the TAP's poll wait queue and posts one
 * completion per frame, each in the next free buffer, until the buffers run out (-ENOBUFS: it is
 * re-armed once writes have given buffers back; the frames wait in the TAP's queue meanwhile).
 * With -s, DEPTH ordinary reads wait on each TAP instead. Measured on Linux 6.18: a frame wakes
 * every parked read of that TAP, the ones that find the queue empty again are punted to io-wq
 * worker threads (the end-of-run counter showed 5 "iou-wrk" threads), which then block in the
 * TAP's read(): the copying happens in kernel worker threads instead of in batches, which is not
 * the mechanism to measure. The multishot read is one waiter per TAP and never punts.
 *
 * The ring is set up with IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN when the kernel
 * has them (6.1): the kernel's completion work then runs only inside our io_uring_enter, in one
 * batch, instead of interrupting the loop. The TAP fds are blocking (no O_NONBLOCK): on an
 * O_NONBLOCK file without FMODE_NOWAIT io_uring hands -EAGAIN back to user space instead of
 * waiting; on a blocking pollable file a read that finds no frame is parked on the poll wait queue.
 *
 * Prints "tapcopy-uring: ready" on stdout once both TAPs exist; on SIGTERM/SIGINT prints its
 * counters on stderr (with the threads the process has then: 1 means no io-wq worker) and exits.
 *
 * Build: gcc -O2 -Wall -o tapcopy-uring tapcopy-uring.c (tap-open.h, uring-mini.h beside it)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>

#include "tap-open.h"
#include "uring-mini.h"

#define MAX_DEPTH 256

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

/* user_data: bit 31 the side read from (0: A, 1: B), bit 30 a write, bit 29 the multishot read,
 * the low 16 bits the buffer (single-shot reads and writes). */
#define UD_SIDE 0x80000000u
#define UD_WRITE 0x40000000u
#define UD_MULTISHOT 0x20000000u
#define UD_BUF 0x0000ffffu

static int fd[2];
static unsigned char *bufs[2][MAX_DEPTH];
static struct uring ring;
static struct uring_bufring pool[2]; /* multishot: buffer group `side` feeds the reads of TAP `side` */
static int multishot = 1;
static int armed[2]; /* multishot: the read of TAP `side` is queued or in flight */
static int in_pool[2]; /* multishot: buffers of group `side` the kernel may still fill */

static int queue_read(int side, unsigned b) {
  struct io_uring_sqe *sqe = uring_sqe(&ring);
  if (sqe == NULL) return -1;
  uring_prep_rw(sqe, IORING_OP_READ, fd[side], bufs[side][b], TAP_FRAME_MAX, (side ? UD_SIDE : 0) | b);
  return 0;
}

static int arm_multishot(int side) {
  struct io_uring_sqe *sqe = uring_sqe(&ring);
  if (sqe == NULL) return -1;
  uring_prep_rw(sqe, IORING_OP_READ_MULTISHOT, fd[side], NULL, 0, (side ? UD_SIDE : 0) | UD_MULTISHOT);
  sqe->flags = IOSQE_BUFFER_SELECT;
  sqe->buf_group = (uint16_t)side;
  armed[side] = 1;
  return 0;
}

static int queue_write(int side, unsigned b, unsigned len) {
  struct io_uring_sqe *sqe = uring_sqe(&ring);
  if (sqe == NULL) return -1;
  uring_prep_rw(sqe, IORING_OP_WRITE, fd[1 - side], bufs[side][b], len, (side ? UD_SIDE : 0) | UD_WRITE | b);
  return 0;
}

/** A buffer whose write completed can take the next frame of its TAP. */
static int give_back(int side, unsigned b) {
  if (!multishot) return queue_read(side, b);
  uring_bufring_add(&pool[side], bufs[side][b], TAP_FRAME_MAX, b);
  in_pool[side]++;
  return 0;
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
  int flags = 0, depth = 128, opt;
  while ((opt = getopt(argc, argv, "vd:s")) != -1) {
    switch (opt) {
      case 'v': flags |= TAP_VNET; break;
      case 'd': depth = atoi(optarg); break;
      case 's': multishot = 0; break;
      default: depth = 0;
    }
  }
  if (argc - optind != 2 || depth < 1 || depth > MAX_DEPTH || (depth & (depth - 1)) != 0) {
    fprintf(stderr, "usage: tapcopy-uring [-v] [-d DEPTH (a power of two, 1..%d)] [-s] TAP_A TAP_B\n", MAX_DEPTH);
    return 2;
  }
  const char *name[2] = { argv[optind], argv[optind + 1] };
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: a signal ends the wait in io_uring_enter with EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  fd[0] = tap_open(name[0], flags);
  fd[1] = tap_open(name[1], flags);
  for (int s = 0; s < 2; s++)
    for (int b = 0; b < depth; b++)
      if ((bufs[s][b] = malloc(TAP_FRAME_MAX)) == NULL) { perror("malloc"); return 1; }
  /* Every buffer has at most one operation queued or in flight, plus one multishot read per TAP. */
  const unsigned choices[] = { IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, IORING_SETUP_COOP_TASKRUN, 0 };
  int e = uring_init(&ring, 2 * (unsigned)depth + 2, choices);
  if (e < 0) { fprintf(stderr, "io_uring_setup: %s\n", strerror(-e)); return 1; }
  for (int s = 0; s < 2; s++) {
    if (multishot) {
      if ((e = uring_bufring_init(&ring, &pool[s], (unsigned)depth, (unsigned)s)) < 0) {
        fprintf(stderr, "IORING_REGISTER_PBUF_RING: %s\n", strerror(-e));
        return 1;
      }
      for (int b = 0; b < depth; b++) give_back(s, (unsigned)b);
      uring_bufring_publish(&pool[s]);
      e = arm_multishot(s);
    } else {
      for (int b = 0; b < depth && e >= 0; b++) e = queue_read(s, (unsigned)b);
    }
    if (e < 0) { fprintf(stderr, "io_uring: no SQE for the first reads\n"); return 1; }
  }
  printf("tapcopy-uring: ready %s %s, %s, %d buffers per TAP, ring flags 0x%x%s\n", name[0], name[1],
         multishot ? "multishot reads" : "single-shot reads", depth, ring.setup_flags,
         (flags & TAP_VNET) ? " (vnet_hdr, offloads)" : "");
  fflush(stdout);

  uint64_t frames[2] = { 0, 0 }, bytes[2] = { 0, 0 }, drops[2] = { 0, 0 }, enters = 0, cqes = 0, read_errors = 0,
           rearms = 0, nobufs = 0;
  int last_read_error = 0, last_write_error = 0;
  while (!stop) {
    int n = uring_enter(&ring, 1, IORING_ENTER_GETEVENTS);
    if (n < 0 && n != -EINTR && n != -EAGAIN && n != -EBUSY) { fprintf(stderr, "io_uring_enter: %s\n", strerror(-n)); break; }
    enters++;
    unsigned head = *ring.cq_head, tail = __atomic_load_n(ring.cq_tail, __ATOMIC_ACQUIRE);
    for (; head != tail; head++) {
      const struct io_uring_cqe *c = &ring.cqes[head & ring.cq_mask];
      unsigned ud = (unsigned)c->user_data, b = ud & UD_BUF;
      int side = (ud & UD_SIDE) ? 1 : 0, res = c->res, ok = 0;
      cqes++;
      if (ud & UD_WRITE) {
        /* The write's length is not in its CQE: a failed write is a drop (a TAP write is whole or nothing). */
        if (res > 0) { frames[side]++; bytes[side] += (uint64_t)res; }
        else { drops[side]++; last_write_error = -res; }
        ok = give_back(side, b);
      } else if (ud & UD_MULTISHOT) {
        if (!(c->flags & IORING_CQE_F_MORE)) armed[side] = 0;
        if (c->flags & IORING_CQE_F_BUFFER) in_pool[side]--;
        if (res > 0 && (c->flags & IORING_CQE_F_BUFFER)) {
          ok = queue_write(side, c->flags >> IORING_CQE_BUFFER_SHIFT, (unsigned)res);
        } else if (res == -ENOBUFS) {
          nobufs++;
        } else if (res < 0) {
          read_errors++;
          last_read_error = -res;
        }
      } else if (res > 0) {
        ok = queue_write(side, b, (unsigned)res);
      } else {
        if (res < 0) { read_errors++; last_read_error = -res; }
        ok = queue_read(side, b);
      }
      if (ok < 0) { fprintf(stderr, "io_uring: SQ full\n"); stop = 1; }
    }
    __atomic_store_n(ring.cq_head, head, __ATOMIC_RELEASE);
    if (multishot) {
      for (int s = 0; s < 2; s++) {
        uring_bufring_publish(&pool[s]);
        /* Re-arm only with a buffer to read into, or it ends at once with -ENOBUFS again. */
        if (!armed[s] && in_pool[s] > 0 && arm_multishot(s) == 0)
          rearms++;
      }
    }
    if (read_errors > 1000000) { fprintf(stderr, "io_uring: reads keep failing: %s\n", strerror(last_read_error)); break; }
  }
  fprintf(stderr, "tapcopy-uring: %s->%s %llu frames %llu bytes %llu drops; %s->%s %llu frames %llu bytes %llu drops; "
    "%llu io_uring_enter, %.1f completions each; %llu multishot re-arms (%llu out of buffers); %llu read errors (last: %s); last write error: %s; %d threads at the end\n",
    name[0], name[1], (unsigned long long)frames[0], (unsigned long long)bytes[0], (unsigned long long)drops[0],
    name[1], name[0], (unsigned long long)frames[1], (unsigned long long)bytes[1], (unsigned long long)drops[1],
    (unsigned long long)enters, enters > 0 ? (double)cqes / (double)enters : 0.0, (unsigned long long)rearms,
    (unsigned long long)nobufs, (unsigned long long)read_errors, read_errors > 0 ? strerror(last_read_error) : "none",
    last_write_error != 0 ? strerror(last_write_error) : "none", count_threads());
  close(ring.fd);
  close(fd[0]);
  close(fd[1]);
  return 0;
}
