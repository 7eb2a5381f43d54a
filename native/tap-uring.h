// TapUring: the io_uring receive/transmit path of one TAP file descriptor (native/tap-uring.cc).
// TapDevice (native/tap.cc) uses it instead of read()/write() per frame when the kernel allows.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <vector>

struct io_uring_sqe;
struct io_uring_cqe;
struct io_uring_buf_ring;
struct io_uring_params;

namespace tapvs {

class TapUring {
 public:
  TapUring() = default;
  ~TapUring() { Close(); }
  TapUring(const TapUring&) = delete;
  TapUring& operator=(const TapUring&) = delete;

  // Sets up a ring for `tapFd` whose RX slots (`slots` x `slotSize` bytes at `rx`) become the
  // kernel's read buffers, and arms the multishot read. Returns 0, or -errno saying why io_uring
  // cannot serve this TAP (the caller then keeps read()/write()). Clears O_NONBLOCK on success.
  int Open(int tapFd, uint8_t* rx, uint32_t slots, uint32_t slotSize);
  bool IsOpen() const { return ringFd_ >= 0; }
  // Readable when the kernel has work or completions for the ring: poll it from the event loop.
  int EventFd() const { return eventFd_; }

  struct RxBatch {
    uint32_t count;      // frames now in RX slots 0..count-1, lengths filled in
    uint32_t truncated;  // frames that filled a slot (cut short), dropped
    int error;           // errno that ended the read (device gone), else 0
  };
  // Runs the kernel's deferred work and collects the frames read since the last call.
  RxBatch Receive(uint32_t* lengths, bool drainEventFd);
  // Transmit: queue each frame, then Flush() submits them all and waits until the kernel has
  // finished with every one (their memory is reused by the next batch). Flush returns how many
  // the device took; the rest were refused.
  void QueueWrite(const uint8_t* frame, uint32_t len);
  uint32_t Flush(uint32_t* refused);
  // Gives the RX slots back to the kernel after a batch (and re-arms the read if it ended).
  void Recycle();
  // Whether frames or completions are waiting already (another pass is worth it).
  bool HasMore() const;
  // Makes the event fd readable, so the event loop comes back for what HasMore() saw.
  void Wake();
  // Cancels the read, waits until the kernel no longer touches the RX slots, closes the ring.
  void Close();

 private:
  int MapRing(const io_uring_params& p);
  int RegisterBuffers();
  int RegisterEventFd();
  int Enter(unsigned toSubmit, unsigned minComplete, unsigned flags);
  io_uring_sqe* NextSqe();
  void ArmRead();
  void Reap();
  void OnReadCompletion(int res, uint32_t flags);
  void Provide(uint32_t firstSlot);
  void Unmap();

  int ringFd_ = -1;
  int eventFd_ = -1;
  int tapFd_ = -1;
  uint8_t* rx_ = nullptr;
  uint32_t slots_ = 0;
  uint32_t slotSize_ = 0;

  // The mmapped ring.
  void* sqRing_ = nullptr;
  size_t sqRingSize_ = 0;
  void* cqRing_ = nullptr;  // == sqRing_ with IORING_FEAT_SINGLE_MMAP
  size_t cqRingSize_ = 0;
  io_uring_sqe* sqes_ = nullptr;
  size_t sqesSize_ = 0;
  unsigned* sqHead_ = nullptr;
  unsigned* sqTail_ = nullptr;
  unsigned* sqFlags_ = nullptr;
  unsigned sqMask_ = 0;
  unsigned sqEntries_ = 0;
  unsigned sqLocalTail_ = 0;
  unsigned toSubmit_ = 0;
  unsigned* cqHead_ = nullptr;
  unsigned* cqTail_ = nullptr;
  unsigned* cqFlags_ = nullptr;
  unsigned cqMask_ = 0;
  io_uring_cqe* cqes_ = nullptr;

  // The provided-buffer ring: entries point into the RX slots, in slot order.
  io_uring_buf_ring* bufRing_ = nullptr;
  size_t bufRingSize_ = 0;
  unsigned bufMask_ = 0;
  uint16_t bufHead_ = 0;  // the kernel's head, tracked: one per completion with a buffer
  std::vector<uint16_t> provided_;  // slots in the ring, in the order the kernel takes them
  uint32_t takenCount_ = 0;         // how many of provided_ the kernel took

  struct Pending {
    uint16_t slot;
    uint32_t len;
  };
  std::vector<Pending> pending_;  // frames read, not yet handed to JavaScript
  uint32_t truncated_ = 0;
  int readError_ = 0;
  bool armed_ = false;

  uint32_t writesInFlight_ = 0;
  uint32_t writesDone_ = 0;
  uint32_t writesRefused_ = 0;
};

}  // namespace tapvs
