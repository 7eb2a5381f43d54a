/*
 * uring-mini.h: the least io_uring a copy loop needs, on the raw system calls (io_uring_setup,
 * io_uring_enter, io_uring_register), so bench/c builds with nothing beyond the kernel's UAPI
 * header (no liburing package). Header-only because bench/run.mjs compiles each bench/c/X.c alone.
 *
 * One submitter thread: SQEs are filled locally and published with one release store of the SQ
 * tail just before io_uring_enter; CQEs are consumed in place and released with one store of the
 * CQ head (the acquire/release pairs the io_uring ABI asks for).
 */
#ifndef TAPVS_BENCH_URING_MINI_H
#define TAPVS_BENCH_URING_MINI_H

#include <errno.h>
#include <linux/io_uring.h>
#include <linux/time_types.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

struct uring {
  int fd;
  unsigned features, setup_flags;
  unsigned *sq_head, *sq_tail, sq_mask, sq_entries, sq_local_tail, to_submit;
  struct io_uring_sqe *sqes;
  unsigned *cq_head, *cq_tail, cq_mask;
  struct io_uring_cqe *cqes;
};

/**
 * Sets up a ring of `entries` SQEs, trying `flags` first and then each fallback (0-terminated)
 * so an older kernel still runs. Returns 0, or -errno of the last attempt.
 */
static int uring_init(struct uring *r, unsigned entries, const unsigned *flag_choices) {
  memset(r, 0, sizeof *r);
  struct io_uring_params p;
  int fd = -1;
  for (const unsigned *f = flag_choices;; f++) {
    memset(&p, 0, sizeof p);
    p.flags = *f;
    fd = (int)syscall(__NR_io_uring_setup, entries, &p);
    if (fd >= 0 || *f == 0) break;
  }
  if (fd < 0) return -errno;
  r->fd = fd;
  r->features = p.features;
  r->setup_flags = p.flags;
  size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  int single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
  if (single && cq_size > sq_size) sq_size = cq_size;
  uint8_t *sq = mmap(NULL, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
  if (sq == MAP_FAILED) return -errno;
  uint8_t *cq = sq;
  if (!single) {
    cq = mmap(NULL, cq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
    if (cq == MAP_FAILED) return -errno;
  }
  r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                 fd, IORING_OFF_SQES);
  if (r->sqes == MAP_FAILED) return -errno;
  r->sq_head = (unsigned *)(sq + p.sq_off.head);
  r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
  r->sq_mask = *(unsigned *)(sq + p.sq_off.ring_mask);
  r->sq_entries = p.sq_entries;
  r->sq_local_tail = *r->sq_tail;
  /* SQ slot i always holds SQE i: the indirection array is the identity, written once. */
  unsigned *array = (unsigned *)(sq + p.sq_off.array);
  for (unsigned i = 0; i < p.sq_entries; i++) array[i] = i;
  r->cq_head = (unsigned *)(cq + p.cq_off.head);
  r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
  r->cq_mask = *(unsigned *)(cq + p.cq_off.ring_mask);
  r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
  return 0;
}

static int uring_enter(struct uring *r, unsigned min_complete, unsigned flags) {
  __atomic_store_n(r->sq_tail, r->sq_local_tail, __ATOMIC_RELEASE);
  int n = (int)syscall(__NR_io_uring_enter, r->fd, r->to_submit, min_complete, flags, NULL, 0);
  if (n < 0) return -errno;
  r->to_submit -= (unsigned)n;
  return n;
}

/**
 * Submits what is queued and waits for one completion, at most `timeout_ms` (IORING_ENTER_EXT_ARG,
 * Linux 5.11): a thread that gets no signal still sees a stop flag. -ETIME when the time ran out.
 */
static int uring_submit_and_wait(struct uring *r, unsigned timeout_ms) {
  struct __kernel_timespec ts = { .tv_sec = timeout_ms / 1000, .tv_nsec = (long long)(timeout_ms % 1000) * 1000000 };
  struct io_uring_getevents_arg arg;
  memset(&arg, 0, sizeof arg);
  arg.ts = (uint64_t)(uintptr_t)&ts;
  __atomic_store_n(r->sq_tail, r->sq_local_tail, __ATOMIC_RELEASE);
  int n = (int)syscall(__NR_io_uring_enter, r->fd, r->to_submit, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg,
                       sizeof arg);
  if (n < 0) return -errno;
  r->to_submit -= (unsigned)n;
  return n;
}

/** The next free SQE, zeroed; submits what is queued first when the SQ is full. NULL on error. */
static struct io_uring_sqe *uring_sqe(struct uring *r) {
  if (r->sq_local_tail - __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE) >= r->sq_entries) {
    if (uring_enter(r, 0, 0) < 0) return NULL;
    if (r->sq_local_tail - __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE) >= r->sq_entries) return NULL;
  }
  struct io_uring_sqe *sqe = &r->sqes[r->sq_local_tail & r->sq_mask];
  memset(sqe, 0, sizeof *sqe);
  r->sq_local_tail++;
  r->to_submit++;
  return sqe;
}

static void uring_prep_rw(struct io_uring_sqe *sqe, int op, int fd, void *buf, unsigned len, uint64_t user_data) {
  sqe->opcode = (uint8_t)op;
  sqe->fd = fd;
  sqe->addr = (uint64_t)(uintptr_t)buf;
  sqe->len = len;
  sqe->off = (uint64_t)-1; /* "current position": a TAP has none, and -1 keeps io_uring from using pread */
  sqe->user_data = user_data;
}

#ifndef IORING_OP_READ_MULTISHOT
#define IORING_OP_READ_MULTISHOT 49 /* Linux 6.7; the UAPI header may be older than the kernel */
#endif

/**
 * A provided-buffer ring (IORING_REGISTER_PBUF_RING, Linux 5.19): buffers the kernel picks from
 * for reads with IOSQE_BUFFER_SELECT, so a multishot read can fill one buffer per frame.
 */
struct uring_bufring {
  struct io_uring_buf_ring *br;
  unsigned entries, mask, tail;
};

/** Registers an empty ring of `entries` (a power of two) buffers as group `bgid`; 0 or -errno. */
static int uring_bufring_init(struct uring *r, struct uring_bufring *b, unsigned entries, unsigned bgid) {
  size_t size = entries * sizeof(struct io_uring_buf);
  void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (mem == MAP_FAILED) return -errno;
  struct io_uring_buf_reg reg;
  memset(&reg, 0, sizeof reg);
  reg.ring_addr = (uint64_t)(uintptr_t)mem;
  reg.ring_entries = entries;
  reg.bgid = (uint16_t)bgid;
  if (syscall(__NR_io_uring_register, r->fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) return -errno;
  b->br = mem;
  b->entries = entries;
  b->mask = entries - 1;
  b->tail = 0;
  return 0;
}

/** Hands buffer `bid` back to the kernel; visible after uring_bufring_publish. */
static void uring_bufring_add(struct uring_bufring *b, void *addr, unsigned len, unsigned bid) {
  struct io_uring_buf *e = &b->br->bufs[b->tail & b->mask];
  e->addr = (uint64_t)(uintptr_t)addr;
  e->len = len;
  e->bid = (uint16_t)bid;
  b->tail++;
}

static void uring_bufring_publish(struct uring_bufring *b) {
  __atomic_store_n(&b->br->tail, (uint16_t)b->tail, __ATOMIC_RELEASE);
}

#endif
