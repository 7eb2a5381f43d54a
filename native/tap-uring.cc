// TapUring: a TAP's frames through io_uring, one ring per TAP file descriptor, on the raw system
// calls (io_uring_setup/enter/register; no liburing).
//
// Why: with read()/write() a batch of n frames costs n+1 reads and n writes; here one
// io_uring_enter runs the reads of a wake-up and one submits the writes of a batch
// (docs/dataplane.md, "Several queues and fewer system calls", measured in bench/c first).
//
// How:
// - RX: one IORING_OP_READ_MULTISHOT (Linux 6.7) stays armed on the TAP and reads each frame
//   into the next buffer of a provided-buffer ring (IORING_REGISTER_PBUF_RING). The buffers ARE
//   the RX slots JavaScript reads, listed in slot order, so frames land in slot order without a
//   copy and without memory beyond the slots. The ring is IORING_SETUP_DEFER_TASKRUN |
//   SINGLE_ISSUER: the kernel reads frames into buffers only inside our io_uring_enter with
//   GETEVENTS (the multishot read is driven by task work that waits for that call), so between
//   those calls the buffer ring is ours to rewrite. After each batch, Recycle() lists the slots
//   again from the kernel's head (tracked: one head step per completion that carries a buffer;
//   checked against the buffer id) so the next frames start at slot 0 again.
// - Frames the kernel read while a batch of this link was out (in a flush of its own TX) sit in
//   later slots; Recycle() moves them to the front. A frame longer than its slot leaves a hole
//   that Receive() closes the same way. Both are moves within the RX buffer, of those frames only.
// - TX: one IORING_OP_WRITE per frame, all submitted by one io_uring_enter; Flush() returns only
//   when every write has completed, because the TX slots and the other links' RX slots they may
//   point into are reused by the next batch. A TAP write normally completes inside the submit.
//   The same enter (GETEVENTS) also runs the read's deferred work: frames that came meanwhile
//   are collected into later slots (pending, as above) and HasMore() says so.
// - Fewer calls per wake-up (docs/dataplane.md, "Built: io_uring in the TAP link"): Receive()
//   enters only when IORING_SQ_TASKRUN flags deferred work; the eventfd is muted around every
//   enter of ours, so our own completions never make it readable; TapDevice serves a link whose
//   frames were collected or flagged during another link's batch right after that batch.
// - Wake-ups: an eventfd registered with the ring (IORING_REGISTER_EVENTFD) is what libuv polls.
//   The kernel signals it when a frame arrives (deferred work queued) and when completions are
//   posted; around our own enters it is muted (IORING_CQ_EVENTFD_DISABLED) and
//   IORING_SQ_TASKRUN (IORING_SETUP_TASKRUN_FLAG) tells us whether a frame came meanwhile.
// - The TAP fd is made blocking: on an O_NONBLOCK file io_uring ends the read with -EAGAIN
//   instead of waiting for the next frame.
// - Close(): the read is cancelled and its last completion awaited before the ring is closed and
//   the RX slots (owned by JavaScript) may be freed.
//
// Kernel behaviour relied on: io_uring/kbuf.c (io_ring_buffer_select() takes the entry at the
// head when a read runs, one head step per buffer), io_uring/io_uring.c
// (io_req_local_work_add(): IORING_SQ_TASKRUN and the eventfd signal when deferred work is
// queued), io_uring/rw.c (io_read_mshot()).

#include "tap-uring.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/time_types.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace tapvs {
namespace {

#ifndef IORING_OP_READ_MULTISHOT
constexpr int kOpReadMultishot = 49;  // Linux 6.7; the UAPI header may be older than the kernel
#else
constexpr int kOpReadMultishot = IORING_OP_READ_MULTISHOT;
#endif

// Linux 6.4 names the UAPI header here may lack (IOU_PBUF_RING_MMAP, IORING_OFF_PBUF_*).
constexpr uint16_t kPbufRingMmap = 1;
constexpr uint64_t kOffPbufRing = 0x80000000ULL;
constexpr unsigned kOffPbufShift = 16;

constexpr uint64_t kTagRead = 1;
constexpr uint64_t kTagWrite = 2;
constexpr uint64_t kTagCancel = 3;
constexpr uint16_t kBufferGroup = 0;

unsigned NextPowerOfTwo(unsigned n) {
  unsigned p = 1;
  while (p < n) p <<= 1;
  return p;
}

int Register(int ringFd, unsigned op, void* arg, unsigned count) {
  if (syscall(__NR_io_uring_register, ringFd, op, arg, count) < 0) return -errno;
  return 0;
}

// Whether the kernel knows the multishot read (IORING_REGISTER_PROBE, Linux 5.6).
bool SupportsMultishotRead(int ringFd) {
  constexpr unsigned kOps = 256;
  size_t size = sizeof(io_uring_probe) + kOps * sizeof(io_uring_probe_op);
  std::vector<uint8_t> mem(size, 0);
  io_uring_probe* probe = reinterpret_cast<io_uring_probe*>(mem.data());
  if (Register(ringFd, IORING_REGISTER_PROBE, probe, kOps) != 0) return false;
  if (probe->last_op < kOpReadMultishot) return false;
  return (probe->ops[kOpReadMultishot].flags & IO_URING_OP_SUPPORTED) != 0;
}

}  // namespace

// Maps one region of the ring fd (IORING_OFF_*); nullptr with errno set on failure.
static void* MapShared(int fd, size_t size, uint64_t offset) {
  void* m = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                 static_cast<off_t>(offset));
  return m == MAP_FAILED ? nullptr : m;
}

int TapUring::Open(int tapFd, uint8_t* rx, uint32_t slots, uint32_t slotSize) {
  if (slots == 0 || slots > 32768) return -EINVAL;
  io_uring_params p;
  memset(&p, 0, sizeof p);
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  // Room for a whole TX batch plus the read and a cancel; completions get twice that.
  int fd = static_cast<int>(syscall(__NR_io_uring_setup, NextPowerOfTwo(slots + 4), &p));
  if (fd < 0) return -errno;
  ringFd_ = fd;
  tapFd_ = tapFd;
  rx_ = rx;
  slots_ = slots;
  slotSize_ = slotSize;
  provided_.reserve(slots);
  pending_.reserve(slots);
  int err = MapRing(p);
  if (err == 0) err = SupportsMultishotRead(fd) ? RegisterBuffers() : -EOPNOTSUPP;
  if (err == 0) err = RegisterEventFd();
  int fl = fcntl(tapFd, F_GETFL);
  if (err == 0 && (fl < 0 || fcntl(tapFd, F_SETFL, fl & ~O_NONBLOCK) < 0)) err = -errno;
  if (err == 0) {
    Provide(0);
    ArmRead();
    Enter(toSubmit_, 0, 0);
    Reap();
    // Refused at once (a kernel without it, a device that is not a TAP)?
    err = -readError_;
    readError_ = 0;
    if (err != 0) fcntl(tapFd, F_SETFL, fl);
  }
  if (err != 0) Close();
  return err;
}

int TapUring::MapRing(const io_uring_params& p) {
  sqRingSize_ = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  cqRingSize_ = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
  bool single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
  if (single && cqRingSize_ > sqRingSize_) sqRingSize_ = cqRingSize_;
  sqRing_ = MapShared(ringFd_, sqRingSize_, IORING_OFF_SQ_RING);
  if (sqRing_ == nullptr) return -errno;
  void* cq = sqRing_;
  if (!single) {
    cq = cqRing_ = MapShared(ringFd_, cqRingSize_, IORING_OFF_CQ_RING);
    if (cq == nullptr) return -errno;
  }
  sqesSize_ = p.sq_entries * sizeof(io_uring_sqe);
  sqes_ = static_cast<io_uring_sqe*>(MapShared(ringFd_, sqesSize_, IORING_OFF_SQES));
  if (sqes_ == nullptr) return -errno;
  uint8_t* sqb = static_cast<uint8_t*>(sqRing_);
  uint8_t* cqb = static_cast<uint8_t*>(cq);
  sqHead_ = reinterpret_cast<unsigned*>(sqb + p.sq_off.head);
  sqTail_ = reinterpret_cast<unsigned*>(sqb + p.sq_off.tail);
  sqFlags_ = reinterpret_cast<unsigned*>(sqb + p.sq_off.flags);
  sqMask_ = *reinterpret_cast<unsigned*>(sqb + p.sq_off.ring_mask);
  sqEntries_ = p.sq_entries;
  sqLocalTail_ = *sqTail_;
  // SQ slot i always holds SQE i: the indirection array is the identity, written once.
  unsigned* array = reinterpret_cast<unsigned*>(sqb + p.sq_off.array);
  for (unsigned i = 0; i < p.sq_entries; i++) array[i] = i;
  cqHead_ = reinterpret_cast<unsigned*>(cqb + p.cq_off.head);
  cqTail_ = reinterpret_cast<unsigned*>(cqb + p.cq_off.tail);
  cqFlags_ = reinterpret_cast<unsigned*>(cqb + p.cq_off.flags);
  cqMask_ = *reinterpret_cast<unsigned*>(cqb + p.cq_off.ring_mask);
  cqes_ = reinterpret_cast<io_uring_cqe*>(cqb + p.cq_off.cqes);
  return 0;
}

// The kernel allocates the buffer ring (IOU_PBUF_RING_MMAP, Linux 6.4) and we map it shared: a
// private anonymous mapping would be copied on write in this process after a fork (child
// processes), and the kernel would keep reading the old page.
int TapUring::RegisterBuffers() {
  unsigned entries = NextPowerOfTwo(slots_);
  io_uring_buf_reg reg;
  memset(&reg, 0, sizeof reg);
  reg.ring_entries = entries;
  reg.bgid = kBufferGroup;
  reg.pad = kPbufRingMmap;  // `flags` in newer UAPI headers
  int err = Register(ringFd_, IORING_REGISTER_PBUF_RING, &reg, 1);
  if (err != 0) return err;
  bufRingSize_ = entries * sizeof(io_uring_buf);
  bufRing_ = static_cast<io_uring_buf_ring*>(MapShared(
      ringFd_, bufRingSize_, kOffPbufRing | (static_cast<uint64_t>(kBufferGroup) << kOffPbufShift)));
  if (bufRing_ == nullptr) return -errno;
  bufMask_ = entries - 1;
  return 0;
}

int TapUring::RegisterEventFd() {
  eventFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (eventFd_ < 0) return -errno;
  return Register(ringFd_, IORING_REGISTER_EVENTFD, &eventFd_, 1);
}

int TapUring::Enter(unsigned toSubmit, unsigned minComplete, unsigned flags) {
  __atomic_store_n(sqTail_, sqLocalTail_, __ATOMIC_RELEASE);
  for (;;) {
    long n = syscall(__NR_io_uring_enter, ringFd_, toSubmit, minComplete, flags, nullptr, 0);
    if (n >= 0) {
      toSubmit_ -= static_cast<unsigned>(n) < toSubmit_ ? static_cast<unsigned>(n) : toSubmit_;
      return static_cast<int>(n);
    }
    if (errno != EINTR) return -errno;
  }
}

io_uring_sqe* TapUring::NextSqe() {
  if (sqLocalTail_ - __atomic_load_n(sqHead_, __ATOMIC_ACQUIRE) >= sqEntries_) {
    Enter(toSubmit_, 0, 0);
    if (sqLocalTail_ - __atomic_load_n(sqHead_, __ATOMIC_ACQUIRE) >= sqEntries_) return nullptr;
  }
  io_uring_sqe* sqe = &sqes_[sqLocalTail_ & sqMask_];
  memset(sqe, 0, sizeof *sqe);
  sqLocalTail_++;
  toSubmit_++;
  return sqe;
}

void TapUring::ArmRead() {
  io_uring_sqe* sqe = NextSqe();
  if (sqe == nullptr) return;
  sqe->opcode = kOpReadMultishot;
  sqe->fd = tapFd_;
  sqe->off = ~0ULL;  // "current position": a TAP has none
  sqe->flags = IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
  sqe->user_data = kTagRead;
  armed_ = true;
}

void TapUring::Reap() {
  unsigned head = *cqHead_;
  unsigned tail = __atomic_load_n(cqTail_, __ATOMIC_ACQUIRE);
  for (; head != tail; head++) {
    const io_uring_cqe* cqe = &cqes_[head & cqMask_];
    if (cqe->user_data == kTagRead) {
      OnReadCompletion(cqe->res, cqe->flags);
    } else if (cqe->user_data == kTagWrite) {
      if (writesInFlight_ > 0) writesInFlight_--;
      if (cqe->res < 0) {
        writesRefused_++;
      } else {
        writesDone_++;
      }
    }
  }
  __atomic_store_n(cqHead_, head, __ATOMIC_RELEASE);
}

void TapUring::OnReadCompletion(int res, uint32_t flags) {
  if (flags & IORING_CQE_F_BUFFER) {
    uint16_t bid = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
    bufHead_++;
    if (takenCount_ >= provided_.size() || provided_[takenCount_] != bid) {
      // The kernel took a buffer other than the one at the head we tracked: the slot order is
      // lost. Never seen; stop reading rather than hand over a frame from the wrong slot.
      readError_ = EPROTO;
    } else if (static_cast<uint32_t>(res) >= slotSize_) {
      // A read that filled the buffer to its last byte was cut short: the TAP returns at most
      // the buffer's length (native/tap.cc, "RX truncation").
      truncated_++;
    } else if (res > 0) {
      pending_.push_back({bid, static_cast<uint32_t>(res)});
    }
    takenCount_++;
  } else if (res < 0 && res != -ENOBUFS && res != -ECANCELED && res != -EINTR) {
    readError_ = -res;
  }
  if (!(flags & IORING_CQE_F_MORE)) armed_ = false;
}

TapUring::RxBatch TapUring::Receive(uint32_t* lengths, bool drainEventFd) {
  if (drainEventFd) {
    uint64_t v;
    ssize_t r = read(eventFd_, &v, sizeof v);
    (void)r;  // EAGAIN: nothing was signalled (a wake-up we made ourselves or a spurious one)
  }
  // The kernel's deferred work (frames to read) is flagged by IORING_SQ_TASKRUN; without it and
  // with nothing to submit, the completions are all in the CQ already: no system call.
  if (toSubmit_ > 0 || (__atomic_load_n(sqFlags_, __ATOMIC_ACQUIRE) & IORING_SQ_TASKRUN) != 0) {
    // Muted: the completions this call posts would signal the eventfd, and the event loop would
    // come back for frames already collected. What arrives after it is flagged (HasMore).
    __atomic_fetch_or(cqFlags_, IORING_CQ_EVENTFD_DISABLED, __ATOMIC_RELAXED);
    Enter(toSubmit_, 0, IORING_ENTER_GETEVENTS);
    __atomic_fetch_and(cqFlags_, ~static_cast<unsigned>(IORING_CQ_EVENTFD_DISABLED),
                       __ATOMIC_RELAXED);
  }
  Reap();
  // Pending frames are in increasing slots, each at or after its place: moving them down in
  // order never overwrites one not yet moved.
  uint32_t count = 0;
  for (Pending& f : pending_) {
    if (f.slot != count) {
      memmove(rx_ + static_cast<size_t>(count) * slotSize_,
              rx_ + static_cast<size_t>(f.slot) * slotSize_, f.len);
    }
    lengths[count++] = f.len;
  }
  pending_.clear();
  RxBatch b{count, truncated_, readError_};
  truncated_ = 0;
  readError_ = 0;
  return b;
}

void TapUring::QueueWrite(const uint8_t* frame, uint32_t len) {
  if (writesInFlight_ == 0 && writesDone_ == 0 && writesRefused_ == 0) {
    // Our own write completions need not wake the event loop.
    __atomic_fetch_or(cqFlags_, IORING_CQ_EVENTFD_DISABLED, __ATOMIC_RELAXED);
  }
  io_uring_sqe* sqe = NextSqe();
  if (sqe == nullptr) {
    writesRefused_++;
    return;
  }
  sqe->opcode = IORING_OP_WRITE;
  sqe->fd = tapFd_;
  sqe->addr = reinterpret_cast<uint64_t>(frame);
  sqe->len = len;
  sqe->off = ~0ULL;
  sqe->user_data = kTagWrite;
  writesInFlight_++;
}

uint32_t TapUring::Flush(uint32_t* refused) {
  if (writesInFlight_ > 0) {
    // GETEVENTS: after the writes, the same call runs the read's deferred work, so frames that
    // came meanwhile (often replies the writes caused: a TAP write runs the receiving stack, and
    // a SYN-ACK or an ACK comes back inside it) are collected now instead of by another enter.
    Enter(toSubmit_, 0, IORING_ENTER_GETEVENTS);
    Reap();
    // A write the kernel could not finish inside the submit completes through deferred work.
    while (writesInFlight_ > 0) {
      int r = Enter(toSubmit_, 1, IORING_ENTER_GETEVENTS);
      if (r < 0 && r != -EAGAIN && r != -EBUSY) break;  // the ring failed: nothing will complete
      Reap();
    }
  }
  __atomic_fetch_and(cqFlags_, ~static_cast<unsigned>(IORING_CQ_EVENTFD_DISABLED),
                     __ATOMIC_RELAXED);
  uint32_t sent = writesDone_;
  *refused = writesRefused_ + writesInFlight_;
  writesDone_ = 0;
  writesRefused_ = 0;
  writesInFlight_ = 0;
  return sent;
}

void TapUring::Provide(uint32_t firstSlot) {
  provided_.clear();
  takenCount_ = 0;
  uint16_t pos = bufHead_;
  for (uint32_t s = firstSlot; s < slots_; s++, pos++) {
    // Only addr, len and bid: the ring's tail shares the first entry's reserved field.
    // Entries from the ring's start: in C++ the UAPI header's flexible array `bufs` sits 8 bytes
    // further (its empty-struct marker takes a byte there, unlike in C).
    io_uring_buf* e = reinterpret_cast<io_uring_buf*>(bufRing_) + (pos & bufMask_);
    e->addr = reinterpret_cast<uint64_t>(rx_ + static_cast<size_t>(s) * slotSize_);
    e->len = slotSize_;
    e->bid = static_cast<uint16_t>(s);
    provided_.push_back(static_cast<uint16_t>(s));
  }
  __atomic_store_n(&bufRing_->tail, pos, __ATOMIC_RELEASE);
}

void TapUring::Recycle() {
  if (ringFd_ < 0) return;
  uint32_t n = 0;
  for (Pending& f : pending_) {
    if (f.slot != n) {
      memmove(rx_ + static_cast<size_t>(n) * slotSize_,
              rx_ + static_cast<size_t>(f.slot) * slotSize_, f.len);
      f.slot = static_cast<uint16_t>(n);
    }
    n++;
  }
  Provide(n);
  if (!armed_ && readError_ == 0 && n < slots_) {
    // It ended (-ENOBUFS when every slot was taken): again, now that there is room.
    ArmRead();
    Enter(toSubmit_, 0, 0);
    Reap();
  }
}

bool TapUring::HasMore() const {
  if (ringFd_ < 0) return false;
  if (!pending_.empty() || readError_ != 0) return true;
  if (__atomic_load_n(cqTail_, __ATOMIC_ACQUIRE) != *cqHead_) return true;
  return (__atomic_load_n(sqFlags_, __ATOMIC_RELAXED) & IORING_SQ_TASKRUN) != 0;
}

void TapUring::Wake() {
  uint64_t one = 1;
  ssize_t r = write(eventFd_, &one, sizeof one);
  (void)r;  // EAGAIN only at a counter near 2^64
}

void TapUring::Close() {
  if (ringFd_ >= 0 && armed_ && sqes_ != nullptr) {
    io_uring_sqe* sqe = NextSqe();
    if (sqe != nullptr) {
      sqe->opcode = IORING_OP_ASYNC_CANCEL;
      sqe->addr = kTagRead;  // the user_data of the request to cancel
      sqe->user_data = kTagCancel;
      Enter(toSubmit_, 0, IORING_ENTER_GETEVENTS);
      Reap();
      // The cancelled read's last completion comes through deferred work; wait for it, at
      // most about a second (10 ms at a time), so a stuck kernel cannot hang the process.
      for (int i = 0; armed_ && i < 100; i++) {
        __kernel_timespec ts{0, 10 * 1000 * 1000};
        io_uring_getevents_arg arg;
        memset(&arg, 0, sizeof arg);
        arg.ts = reinterpret_cast<uint64_t>(&ts);
        __atomic_store_n(sqTail_, sqLocalTail_, __ATOMIC_RELEASE);
        syscall(__NR_io_uring_enter, ringFd_, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
                &arg, sizeof arg);
        Reap();
      }
    }
  }
  if (ringFd_ >= 0) {
    close(ringFd_);
    ringFd_ = -1;
  }
  Unmap();
  if (eventFd_ >= 0) {
    close(eventFd_);
    eventFd_ = -1;
  }
  pending_.clear();
  armed_ = false;
}

void TapUring::Unmap() {
  if (bufRing_ != nullptr) munmap(bufRing_, bufRingSize_);
  if (sqes_ != nullptr) munmap(sqes_, sqesSize_);
  if (cqRing_ != nullptr) munmap(cqRing_, cqRingSize_);
  if (sqRing_ != nullptr) munmap(sqRing_, sqRingSize_);
  bufRing_ = nullptr;
  sqes_ = nullptr;
  cqRing_ = nullptr;
  sqRing_ = nullptr;
}

}  // namespace tapvs
