// tapvs_tap: the N-API addon that owns TAP file descriptors.
//
// What it is: one class, TapDevice, that opens /dev/net/tun, attaches (or creates) a TAP
// device, and moves frames in batches between the device and memory shared with JavaScript.
// With the option `tun: true` it opens a TUN device (IFF_TUN | IFF_NO_PI) instead: the "frames"
// are then bare IP packets (lab/tunnel-endpoint.ts hands decapsulated packets to the kernel so);
// it cannot be combined with vnetHdr or multiQueue, and a TUN has no MAC (getMac/setMac fail).
//
// Contract the JavaScript side (src/link/tap.ts) relies on:
// - rxBuf/txBuf are Node Buffers of slots * slotSize bytes, rxLengths/txLengths are
//   Uint32Array(slots); frame i lives at i * slotSize. All four are allocated by V8 once, in the
//   constructor, and this object keeps a strong reference to each for its whole life, so the
//   raw pointers the addon writes through stay valid (V8 never moves an ArrayBuffer's backing
//   store). JavaScript must never transfer or detach them (postMessage transfer lists).
// - start(onBatch, onError): a uv_poll on the fd. On readable, frames are read into
//   consecutive RX slots until EAGAIN or all slots are used, then onBatch(count) is called
//   once. A full batch is followed by another read pass, at most kMaxBatchesPerWake per
//   wake-up, so a busy link drains without starving the rest of the event loop. If onBatch
//   returns a positive number n, TX frames 0..n-1 are written right after it returns (a
//   "fused" flush: one JS crossing per batch instead of two, a read and a write call).
// - write(count) writes TX frames 0..count-1, one write() each, and returns how many the
//   device took. Refused frames are counted in txDropped; it never throws for a full queue.
// - Errors thrown from the constructor and control methods carry `code` (TAP_NO_DEVICE,
//   TAP_PERMISSION, TAP_BUSY, TAP_GONE, LINK_CONFIG), `errno` and `syscall`, and a message
//   naming the device.
//
// - io_uring (native/tap-uring.cc, option io 'auto' | 'uring' | 'readwrite'): when the kernel
//   allows it, the uv_poll watches the ring's eventfd instead of the fd, frames come from one
//   multishot read straight into the RX slots and the TX frames go out as one submission that
//   is awaited before the flush returns (OnUringReady, WriteFrames). A link whose frames came
//   during another link's batch is served right after that batch, in the same callback from the
//   event loop (ServeUring), and adaptive polling checks the rings in memory (SpinReady). The
//   contract above holds unchanged; `io` and `ioFallback` say which path runs and why.
//
// What it does not do: no parsing, no policy, no addresses. It never looks inside a frame,
// not even at the virtio-net header when IFF_VNET_HDR is on.
//
// - RX truncation: a TAP read copies what fits and returns at most the buffer's length
//   (tun_chr_read_iter() caps tun_put_user()'s full length with min()), so a cut frame cannot
//   be told by its length alone. Each slot is therefore at least one byte longer than the
//   largest frame the link can legally receive (src/link/tap.ts sizes it from the MTU): a read
//   that fills the slot to its last byte was cut short, and is counted in rxTruncated and
//   dropped, never delivered. The largest frame delivered is slotSize - 1 bytes.
//
// Kernel behaviour matched: drivers/net/tun.c (TUNSETIFF, TUNSETVNETHDRSZ, TUNSETOFFLOAD,
// tun_chr_read_iter() returning min(frame length, buffer length), poll reporting EPOLLERR and
// read failing with EBADFD once the device is deleted).

#include <napi.h>
#include <uv.h>

#include "poll-spin.h"
#include "tap-uring.h"

#include <utility>
#include <vector>

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <net/if_arp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

// Linux 6.2 added UDP segmentation offload for TAP; older uapi headers lack the names.
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

// native/notify.cc: sd_notify() for the daemon, in the same addon.
Napi::Object RegisterNotify(Napi::Env env, Napi::Object exports);
// native/poll-spin.cc: adaptive polling of the event loop.
namespace tapvs {
Napi::Object RegisterPolling(Napi::Env env, Napi::Object exports);
}
// native/packet.cc: the AF_PACKET attachment (PacketSocket), in the same addon.
Napi::Object RegisterPacket(Napi::Env env, Napi::Object exports);

namespace {

constexpr uint32_t kDefaultSlots = 64;
constexpr uint32_t kDefaultSlotSize = 2048;
// virtio_net_hdr_v1 (= virtio_net_hdr_mrg_rxbuf): the 10-byte legacy header plus num_buffers.
constexpr int kVnetHdrLen = 12;
// A GSO/GRO super-frame: IPv4 total length <= 65535, plus Ethernet (14), one VLAN tag (4) and
// the virtio-net header (12) is 65565 bytes; rounded up so every slot starts 64-byte aligned.
constexpr uint32_t kDefaultVnetSlotSize = 65536 + 64;
constexpr uint32_t kMaxSlots = 4096;
constexpr uint32_t kMaxSlotSize = 1u << 20;
// Bounded drain per wake-up: enough for bulk traffic, short enough not to starve timers.
constexpr int kMaxBatchesPerWake = 4;

const char* CodeForOpenErrno(int err) {
  switch (err) {
    case ENOENT:
    case ENODEV:
    case ENXIO:
      return "TAP_NO_DEVICE";
    case EPERM:
    case EACCES:
      return "TAP_PERMISSION";
    case EBUSY:
      return "TAP_BUSY";
    default:
      return "LINK_CONFIG";
  }
}

// Errors that mean the device (or our attachment to it) no longer exists.
bool IsGoneErrno(int err) {
  return err == EBADFD || err == EIO || err == ENODEV || err == ENXIO || err == EPIPE ||
         err == EBADF;
}

Napi::Error MakeError(Napi::Env env, const char* code, int err, const char* syscall,
                      const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  if (err != 0) e.Set("errno", Napi::Number::New(env, err));
  if (syscall != nullptr) e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

void ThrowError(Napi::Env env, const char* code, int err, const char* syscall,
                const std::string& message) {
  MakeError(env, code, err, syscall, message).ThrowAsJavaScriptException();
}

std::string WithErrno(const std::string& message, const char* syscall, int err) {
  return message + " (" + syscall + ": " + strerror(err) + ")";
}

class TapDevice : public Napi::ObjectWrap<TapDevice> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(
        env, "TapDevice",
        {
            InstanceMethod<&TapDevice::Start>("start"),
            InstanceMethod<&TapDevice::Stop>("stop"),
            InstanceMethod<&TapDevice::Write>("write"),
            InstanceMethod<&TapDevice::SetTxSources>("setTxSources"),
            InstanceMethod<&TapDevice::CloseJs>("close"),
            InstanceMethod<&TapDevice::RefJs>("ref"),
            InstanceMethod<&TapDevice::UnrefJs>("unref"),
            InstanceMethod<&TapDevice::GetMac>("getMac"),
            InstanceMethod<&TapDevice::SetMac>("setMac"),
            InstanceMethod<&TapDevice::GetMtu>("getMtu"),
            InstanceMethod<&TapDevice::SetMtu>("setMtu"),
            InstanceMethod<&TapDevice::SetUp>("setUp"),
            InstanceAccessor<&TapDevice::GetName>("name"),
            InstanceAccessor<&TapDevice::GetIfindex>("ifindex"),
            InstanceAccessor<&TapDevice::GetFd>("fd"),
            InstanceAccessor<&TapDevice::GetSlots>("slots"),
            InstanceAccessor<&TapDevice::GetSlotSize>("slotSize"),
            InstanceAccessor<&TapDevice::GetVnetHdrLen>("vnetHdrLen"),
            InstanceAccessor<&TapDevice::GetOffloads>("offloads"),
            InstanceAccessor<&TapDevice::GetRxBuf>("rxBuf"),
            InstanceAccessor<&TapDevice::GetRxLengths>("rxLengths"),
            InstanceAccessor<&TapDevice::GetTxBuf>("txBuf"),
            InstanceAccessor<&TapDevice::GetTxLengths>("txLengths"),
            InstanceAccessor<&TapDevice::GetTxSrc>("txSrc"),
            InstanceAccessor<&TapDevice::GetTxSrcOffsets>("txSrcOffsets"),
            InstanceAccessor<&TapDevice::GetRxFrames>("rxFrames"),
            InstanceAccessor<&TapDevice::GetRxBatches>("rxBatches"),
            InstanceAccessor<&TapDevice::GetRxTruncated>("rxTruncated"),
            InstanceAccessor<&TapDevice::GetTxFrames>("txFrames"),
            InstanceAccessor<&TapDevice::GetTxDropped>("txDropped"),
            InstanceAccessor<&TapDevice::GetPolling>("polling"),
            InstanceAccessor<&TapDevice::GetClosed>("closed"),
            InstanceAccessor<&TapDevice::GetTun>("tun"),
            InstanceAccessor<&TapDevice::GetIo>("io"),
            InstanceAccessor<&TapDevice::GetIoFallback>("ioFallback"),
        });
    exports.Set("TapDevice", ctor);
    exports.Set("VNET_HDR_LEN", Napi::Number::New(env, kVnetHdrLen));
    return exports;
  }

  explicit TapDevice(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TapDevice>(info) {
    Napi::Env env = info.Env();
    env_ = env;
    if (info.Length() < 1 || !info[0].IsString()) {
      Napi::TypeError::New(env, "TapDevice(name, opts): name must be a string")
          .ThrowAsJavaScriptException();
      return;
    }
    std::string name = info[0].As<Napi::String>().Utf8Value();
    bool vnetHdr = false;
    bool multiQueue = false;
    bool tun = false;
    std::string ioMode = "auto";
    uint32_t slots = kDefaultSlots;
    uint32_t slotSize = 0;
    if (info.Length() >= 2 && info[1].IsObject()) {
      Napi::Object o = info[1].As<Napi::Object>();
      vnetHdr = o.Get("vnetHdr").ToBoolean().Value();
      multiQueue = o.Get("multiQueue").ToBoolean().Value();
      tun = o.Get("tun").ToBoolean().Value();
      Napi::Value io = o.Get("io");
      if (io.IsString()) ioMode = io.As<Napi::String>().Utf8Value();
      Napi::Value s = o.Get("slots");
      if (s.IsNumber()) slots = s.As<Napi::Number>().Uint32Value();
      Napi::Value ss = o.Get("slotSize");
      if (ss.IsNumber()) slotSize = ss.As<Napi::Number>().Uint32Value();
    }
    if (slotSize == 0) slotSize = vnetHdr ? kDefaultVnetSlotSize : kDefaultSlotSize;
    if (name.size() >= IFNAMSIZ || name.find('/') != std::string::npos) {
      ThrowError(env, "LINK_CONFIG", 0, nullptr,
                 "TAP name '" + name + "' is not a valid interface name (at most " +
                     std::to_string(IFNAMSIZ - 1) + " characters, no '/')");
      return;
    }
    if (tun && (vnetHdr || multiQueue)) {
      ThrowError(env, "LINK_CONFIG", 0, nullptr,
                 "TUN " + name + ": vnetHdr and multiQueue are for TAP devices only");
      return;
    }
    if (slots < 1 || slots > kMaxSlots) {
      ThrowError(env, "LINK_CONFIG", 0, nullptr,
                 "TAP " + name + ": slots must be 1.." + std::to_string(kMaxSlots));
      return;
    }
    if (ioMode != "auto" && ioMode != "uring" && ioMode != "readwrite") {
      ThrowError(env, "LINK_CONFIG", 0, nullptr,
                 "TAP " + name + ": io must be 'auto', 'uring' or 'readwrite'");
      return;
    }
    if (slotSize < 64 || slotSize > kMaxSlotSize) {
      ThrowError(env, "LINK_CONFIG", 0, nullptr,
                 "TAP " + name + ": slotSize must be 64.." + std::to_string(kMaxSlotSize));
      return;
    }
    slots_ = slots;
    slotSize_ = slotSize;
    vnetHdrLen_ = vnetHdr ? kVnetHdrLen : 0;

    if (!OpenDevice(env, name, vnetHdr, multiQueue, tun)) return;

    // The shared rings. V8 allocates (zeroed) and owns the memory; the references keep it
    // alive exactly as long as this object.
    size_t bytes = static_cast<size_t>(slots_) * slotSize_;
    Napi::Buffer<uint8_t> rxBuf = Napi::Buffer<uint8_t>::New(env, bytes);
    Napi::Buffer<uint8_t> txBuf = Napi::Buffer<uint8_t>::New(env, bytes);
    Napi::Uint32Array rxLen = Napi::Uint32Array::New(env, slots_);
    Napi::Uint32Array txLen = Napi::Uint32Array::New(env, slots_);
    Napi::Uint8Array txSrc = Napi::Uint8Array::New(env, slots_);
    Napi::Uint32Array txSrcOff = Napi::Uint32Array::New(env, slots_);
    if (env.IsExceptionPending()) {
      CloseFd();
      return;
    }
    rx_ = rxBuf.Data();
    tx_ = txBuf.Data();
    rxLen_ = rxLen.Data();
    txLen_ = txLen.Data();
    rxBufRef_ = Napi::Persistent(rxBuf.As<Napi::Object>());
    txBufRef_ = Napi::Persistent(txBuf.As<Napi::Object>());
    rxLenRef_ = Napi::Persistent(rxLen.As<Napi::Object>());
    txLenRef_ = Napi::Persistent(txLen.As<Napi::Object>());
    txSrc_ = txSrc.Data();
    txSrcOff_ = txSrcOff.Data();
    txSrcRef_ = Napi::Persistent(txSrc.As<Napi::Object>());
    txSrcOffRef_ = Napi::Persistent(txSrcOff.As<Napi::Object>());
    if (!OpenUring(env, ioMode)) return;

    if (napi_get_uv_event_loop(env, &loop_) != napi_ok || loop_ == nullptr) {
      CloseFd();
      ThrowError(env, "LINK_CONFIG", 0, nullptr, "TAP " + name_ + ": no libuv loop");
      return;
    }
    // A Worker's environment can go away with the device open: close the fd and the poll
    // handle before its loop is torn down.
    napi_add_env_cleanup_hook(env, &TapDevice::EnvCleanup, this);
    cleanupHook_ = true;
  }

  ~TapDevice() override { Close(); }

 private:
  // ---- open ---------------------------------------------------------------------------------

  bool OpenDevice(Napi::Env env, const std::string& name, bool vnetHdr, bool multiQueue,
                  bool tun) {
    const std::string label = name.empty() ? std::string("(new)") : name;
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      const char* code = CodeForOpenErrno(err);
      std::string msg;
      if (strcmp(code, "TAP_NO_DEVICE") == 0) {
        msg = "TAP " + label + ": /dev/net/tun is missing (load the tun module: modprobe tun)";
      } else if (strcmp(code, "TAP_PERMISSION") == 0) {
        msg = "TAP " + label + ": cannot open /dev/net/tun: needs CAP_NET_ADMIN (run as root)";
      } else {
        msg = "TAP " + label + ": cannot open /dev/net/tun";
        code = "LINK_CONFIG";
      }
      ThrowError(env, code, err, "open", WithErrno(msg, "open", err));
      return false;
    }

    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = (tun ? IFF_TUN : IFF_TAP) | IFF_NO_PI;
    if (vnetHdr) ifr.ifr_flags |= IFF_VNET_HDR;
    if (multiQueue) ifr.ifr_flags |= IFF_MULTI_QUEUE;
    memcpy(ifr.ifr_name, name.data(), name.size());
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
      int err = errno;
      close(fd);
      std::string msg;
      const char* code;
      switch (err) {
        case EBUSY:
          code = "TAP_BUSY";
          msg = "TAP " + label + " is in use by another process";
          break;
        case EPERM:
        case EACCES:
          code = "TAP_PERMISSION";
          msg = "TAP " + label + ": cannot create or attach: needs CAP_NET_ADMIN" +
                " (or the device is persistent and owned by another user)";
          break;
        case EINVAL:
          code = "LINK_CONFIG";
          msg = "TAP " + label + ": cannot attach: the name belongs to a device that is not a" +
                " TAP, or to a TAP with other flags (multi-queue or not)";
          break;
        default:
          code = "LINK_CONFIG";
          msg = "TAP " + label + ": cannot create";
      }
      ThrowError(env, code, err, "ioctl(TUNSETIFF)", WithErrno(msg, "TUNSETIFF", err));
      return false;
    }
    fd_ = fd;
    tun_ = tun;
    name_ = std::string(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));

    if (vnetHdr) {
      int hdrLen = kVnetHdrLen;
      if (ioctl(fd, TUNSETVNETHDRSZ, &hdrLen) < 0) {
        int err = errno;
        CloseFd();
        ThrowError(env, "LINK_CONFIG", err, "ioctl(TUNSETVNETHDRSZ)",
                   WithErrno("TAP " + name_ + ": cannot set the virtio-net header size",
                             "TUNSETVNETHDRSZ", err));
        return false;
      }
      // TUNSETOFFLOAD takes the flags by value. Checksum and TSO are required (Linux 2.6.27);
      // USO (Linux 6.2) is optional: an older kernel says EINVAL and we go on without it.
      unsigned long base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
      unsigned long uso = TUN_F_USO4 | TUN_F_USO6;
      if (ioctl(fd, TUNSETOFFLOAD, base | uso) == 0) {
        offloadMask_ = base | uso;
      } else if (errno == EINVAL && ioctl(fd, TUNSETOFFLOAD, base) == 0) {
        offloadMask_ = base;
      } else {
        int err = errno;
        CloseFd();
        ThrowError(env, "LINK_CONFIG", err, "ioctl(TUNSETOFFLOAD)",
                   WithErrno("TAP " + name_ + ": the kernel refused checksum/TSO offload",
                             "TUNSETOFFLOAD", err));
        return false;
      }
    }

    // The index through the device name, in the caller's network namespace (the TAP is
    // created there).
    struct ifreq q;
    if (PrepareIfreq(&q) && IfIoctl(SIOCGIFINDEX, &q, nullptr) == 0) ifindex_ = q.ifr_ifindex;
    return true;
  }

  // ---- poll and batches ---------------------------------------------------------------------

  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsFunction()) {
      Napi::TypeError::New(env, "start(onBatch, onError?): onBatch must be a function")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (fd_ < 0) {
      ThrowError(env, "TAP_GONE", 0, nullptr, "TAP " + name_ + " is closed");
      return env.Undefined();
    }
    if (gone_) {
      ThrowError(env, "TAP_GONE", goneErrno_, nullptr, "TAP " + name_ + " is gone");
      return env.Undefined();
    }
    if (polling_) {
      ThrowError(env, "LINK_CONFIG", 0, nullptr, "TAP " + name_ + " is already started");
      return env.Undefined();
    }
    onBatch_ = Napi::Persistent(info[0].As<Napi::Function>());
    if (info.Length() >= 2 && info[1].IsFunction()) {
      onError_ = Napi::Persistent(info[1].As<Napi::Function>());
    } else {
      onError_.Reset();
    }
    if (asyncContext_ == nullptr) {
      napi_value resource = nullptr;
      napi_value resourceName = Napi::String::New(env, "tapvs:tap");
      napi_async_init(env, resource, resourceName, &asyncContext_);
    }
    if (poll_ == nullptr) {
      poll_ = new uv_poll_t;
      int r = uv_poll_init(loop_, poll_, uring_.IsOpen() ? uring_.EventFd() : fd_);
      if (r != 0) {
        delete poll_;
        poll_ = nullptr;
        ThrowError(env, "LINK_CONFIG", -r, "uv_poll_init",
                   "TAP " + name_ + ": cannot poll the fd (" + uv_strerror(r) + ")");
        return env.Undefined();
      }
      poll_->data = this;
    }
    int r = uv_poll_start(poll_, UV_READABLE, &TapDevice::OnPoll);
    if (r != 0) {
      ThrowError(env, "LINK_CONFIG", -r, "uv_poll_start",
                 "TAP " + name_ + ": cannot poll the fd (" + uv_strerror(r) + ")");
      return env.Undefined();
    }
    polling_ = true;
    // While polling, the device is reachable from the event loop even if JavaScript drops
    // every reference to it: keep the wrapper alive until stop()/close().
    if (!pinned_) {
      Napi::ObjectWrap<TapDevice>::Ref();
      pinned_ = true;
    }
    if (!loopRef_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    if (uring_.IsOpen()) tapvs::AddSpinProbe({&TapDevice::SpinReady, &TapDevice::SpinServe, this});
    // Frames read while stopped (during a write()) are waiting already.
    if (uring_.HasMore()) uring_.Wake();
    return env.Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    StopPolling();
    return info.Env().Undefined();
  }

  // ref()/unref(): whether a started device keeps the event loop (the process) alive.
  Napi::Value RefJs(const Napi::CallbackInfo& info) {
    loopRef_ = true;
    if (poll_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  Napi::Value UnrefJs(const Napi::CallbackInfo& info) {
    loopRef_ = false;
    if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    TapDevice* self = static_cast<TapDevice*>(handle->data);
    if (self == nullptr) return;
    if (self->uring_.IsOpen()) {
      self->ServeUring(status);
    } else {
      self->OnReadable(status, events);
    }
  }

  // ---- cross-link service (io_uring) ---------------------------------------------------------
  //
  // A batch on one link usually writes to another (a NAT request in on ext goes out on int), and
  // frames for that other link often arrive while its writes are submitted; the eventfd is muted
  // then, so the kernel does not signal it. Instead of making the eventfd readable (a write) for
  // epoll to report on the next turn (an epoll_wait and the eventfd's read), such a link is
  // queued here and served right after the batch that wrote to it, in the same callback from
  // the event loop. Bounded like a wake-up's passes; what is left gets the eventfd.

  // One wake-up of an io_uring link: its batches, then the links its batches flagged.
  void ServeUring(int status) {
    t_servicing++;
    OnUringReady(status, true);
    ServiceQueued();
    t_servicing--;
  }

  // Adaptive polling (native/poll-spin.cc) checks the ring's flags in memory instead of turning
  // the event loop (an epoll_wait(0)) to learn that frames came.
  static bool SpinReady(void* arg) {
    TapDevice* self = static_cast<TapDevice*>(arg);
    return self->polling_ && self->uring_.HasMore();
  }
  static void SpinServe(void* arg) { static_cast<TapDevice*>(arg)->ServeUring(0); }

  static constexpr int kMaxServicedPerWake = 8;
  static thread_local int t_servicing;                  // > 0 inside OnPoll of an io_uring link
  static thread_local std::vector<TapDevice*> t_queue;  // links to serve before OnPoll returns

  // Frames wait for this link (HasMore): serve it before the event loop sleeps.
  void NeedService() {
    if (t_servicing > 0) {
      if (!queued_) {
        queued_ = true;
        t_queue.push_back(this);
      }
    } else {
      uring_.Wake();
    }
  }

  static void ServiceQueued() {
    for (int served = 0; !t_queue.empty(); served++) {
      TapDevice* dev = t_queue.front();
      t_queue.erase(t_queue.begin());
      dev->queued_ = false;
      if (!dev->polling_ || !dev->uring_.IsOpen()) continue;
      if (served >= kMaxServicedPerWake) {
        dev->uring_.Wake();
        continue;
      }
      // Not woken by epoll: the eventfd may or may not have been signalled, so it is drained
      // (one read) rather than left to cause an empty wake-up later.
      if (dev->uring_.HasMore()) dev->OnUringReady(0, true);
    }
  }

  void Unqueue() {
    if (!queued_) return;
    queued_ = false;
    for (size_t i = 0; i < t_queue.size(); i++) {
      if (t_queue[i] == this) {
        t_queue.erase(t_queue.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
    }
  }

  void OnReadable(int status, int /*events*/) {
    // Everything below may run JavaScript, which may call stop() or close() on us: every loop
    // re-checks polling_.
    Napi::HandleScope scope(env_);
    for (int pass = 0; pass < kMaxBatchesPerWake && polling_; pass++) {
      uint32_t count = 0;
      int fatal = 0;
      while (count < slots_) {
        uint8_t* slot = rx_ + static_cast<size_t>(count) * slotSize_;
        ssize_t n = read(fd_, slot, slotSize_);
        if (n < 0) {
          int err = errno;
          if (err == EINTR) continue;
          if (err == EAGAIN || err == EWOULDBLOCK) break;
          fatal = err;
          break;
        }
        // A read that filled the slot to its last byte was cut short (see the header).
        if (static_cast<size_t>(n) >= slotSize_) {
          rxTruncated_++;
          continue;
        }
        if (n == 0) continue;
        rxLen_[count] = static_cast<uint32_t>(n);
        count++;
      }
      if (count > 0) {
        rxFrames_ += count;
        rxBatches_++;
        if (pass == 0) tapvs::NoteRx(loop_);  // adaptive polling: poll-spin.cc
        DeliverBatch(count);
      }
      if (fatal != 0) {
        if (fd_ >= 0) ReportReadError(fatal);  // unless the batch handler closed us
        return;
      }
      if (count < slots_) break;  // drained (EAGAIN)
    }
    if (status < 0 && polling_) {
      // The poll failed but the read did not: stop rather than spin on a level-triggered error.
      ReportReadError(-status);
    }
  }

  // ---- the io_uring path (native/tap-uring.cc) ------------------------------------------------

  // io "auto" uses io_uring when the kernel offers it (multishot reads: Linux 6.7), "uring"
  // insists (LINK_CONFIG otherwise), "readwrite" keeps read()/write() per frame.
  bool OpenUring(Napi::Env env, const std::string& mode) {
    if (mode == "readwrite") {
      ioFallback_ = "io readwrite asked for";
      return true;
    }
    int r = uring_.Open(fd_, rx_, slots_, slotSize_);
    if (r == 0) return true;
    ioFallback_ = std::string("io_uring unavailable: ") + strerror(-r);
    if (mode != "uring") return true;
    CloseFd();
    ThrowError(env, "LINK_CONFIG", -r, "io_uring_setup", "TAP " + name_ + ": " + ioFallback_);
    return false;
  }

  // OnReadable's counterpart: the eventfd said the ring has work. The same bounded drain.
  void OnUringReady(int status, bool drainEventFd) {
    Napi::HandleScope scope(env_);
    bool noted = false;
    for (int pass = 0; pass < kMaxBatchesPerWake && polling_ && uring_.IsOpen(); pass++) {
      tapvs::TapUring::RxBatch b = uring_.Receive(rxLen_, drainEventFd && pass == 0);
      rxTruncated_ += b.truncated;
      if (b.count > 0) {
        rxFrames_ += b.count;
        rxBatches_++;
        if (!noted) tapvs::NoteRx(loop_);  // adaptive polling: poll-spin.cc
        noted = true;
        DeliverBatch(b.count);
      }
      uring_.Recycle();  // a no-op if the handler closed us
      if (b.error != 0) {
        if (fd_ >= 0) ReportReadError(b.error);
        return;
      }
      if (!uring_.HasMore()) break;
    }
    if (polling_ && uring_.HasMore()) NeedService();  // the rest after this callback or turn
    if (status < 0 && polling_) ReportReadError(-status);
  }

  void DeliverBatch(uint32_t count) {
    if (onBatch_.IsEmpty()) return;
    napi_value argv[1];
    napi_create_uint32(env_, count, &argv[0]);  // a Smi: no allocation
    napi_value result = nullptr;
    inCallback_++;
    napi_status st = napi_make_callback(env_, asyncContext_, Value(), onBatch_.Value(), 1,
                                        argv, &result);
    inCallback_--;
    ReleaseAsyncContextIfClosed();
    if (st != napi_ok) {
      RaiseUncaught();
      return;
    }
    // Fused flush: onBatch may return how many TX frames it queued.
    uint32_t queued = 0;
    if (result != nullptr && napi_get_value_uint32(env_, result, &queued) == napi_ok &&
        queued > 0 && fd_ >= 0) {
      WriteFrames(queued > slots_ ? slots_ : queued);
    }
  }

  // An exception thrown by a callback has no JavaScript caller to reach (we run straight from
  // the event loop): hand it to process 'uncaughtException', as Node does for its own handles.
  void RaiseUncaught() {
    bool pending = false;
    napi_is_exception_pending(env_, &pending);
    if (!pending) return;
    napi_value exc;
    napi_get_and_clear_last_exception(env_, &exc);
    napi_fatal_exception(env_, exc);
  }

  void ReportReadError(int err) {
    gone_ = true;
    goneErrno_ = err;
    StopPolling();
    Napi::Env env = env_;
    const char* code = IsGoneErrno(err) ? "TAP_GONE" : "LINK_CONFIG";
    std::string msg = IsGoneErrno(err)
                          ? WithErrno("TAP " + name_ + " is gone (deleted or detached)", "read", err)
                          : WithErrno("TAP " + name_ + ": read failed", "read", err);
    Napi::Error e = MakeError(env, code, err, "read", msg);
    if (onError_.IsEmpty()) {
      napi_fatal_exception(env_, e.Value());
      return;
    }
    napi_value argv[1] = {e.Value()};
    napi_value result;
    napi_value fn = onError_.Value();
    inCallback_++;
    napi_status st = napi_make_callback(env_, asyncContext_, Value(), fn, 1, argv, &result);
    inCallback_--;
    ReleaseAsyncContextIfClosed();
    if (st != napi_ok) RaiseUncaught();
  }

  void StopPolling() {
    Unqueue();
    tapvs::RemoveSpinProbe(this);
    if (poll_ != nullptr && polling_) uv_poll_stop(poll_);
    polling_ = false;
    if (pinned_) {
      pinned_ = false;
      Napi::ObjectWrap<TapDevice>::Unref();
    }
  }

  // ---- TX -----------------------------------------------------------------------------------

  // Zero-copy TX: a slot may point into a registered source buffer (e.g. another link's RX ring,
  // where the dataplane rewrote a frame in place) instead of holding the frame itself:
  // txSrc[i] = 0 means "slot i of txBuf"; k > 0 means sources[k-1] at txSrcOffsets[i].
  uint32_t WriteFrames(uint32_t count) {
    uint32_t sent = 0;
    for (uint32_t i = 0; i < count; i++) {
      uint32_t len = txLen_[i];
      const uint8_t* frame;
      uint8_t src = txSrc_[i];
      if (src == 0) {
        if (len == 0 || len > slotSize_) {
          txDropped_++;
          continue;
        }
        frame = tx_ + static_cast<size_t>(i) * slotSize_;
      } else {
        size_t k = static_cast<size_t>(src) - 1;
        size_t off = txSrcOff_[i];
        if (k >= sources_.size() || len == 0 || off + len > sources_[k].second) {
          txDropped_++;
          continue;
        }
        frame = sources_[k].first + off;
      }
      if (uring_.IsOpen()) {
        uring_.QueueWrite(frame, len);  // sent and counted by Flush() below
        continue;
      }
      ssize_t n;
      do {
        n = write(fd_, frame, len);
      } while (n < 0 && errno == EINTR);
      // EAGAIN/ENOBUFS (queue full), EIO (device down), EINVAL (bad frame or vnet header),
      // EBADFD (device gone; the poll reports that): the data path drops and counts.
      if (n < 0) {
        txDropped_++;
      } else {
        sent++;
      }
    }
    if (uring_.IsOpen()) {
      uint32_t refused = 0;
      sent += uring_.Flush(&refused);
      txDropped_ += refused;
    }
    txFrames_ += sent;
    return sent;
  }

  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t count = 0;
    if (info.Length() >= 1 && info[0].IsNumber()) {
      int64_t c = info[0].As<Napi::Number>().Int64Value();
      if (c < 0 || c > static_cast<int64_t>(slots_)) {
        Napi::RangeError::New(env, "write(count): count must be 0.." + std::to_string(slots_))
            .ThrowAsJavaScriptException();
        return env.Undefined();
      }
      count = static_cast<uint32_t>(c);
    } else {
      Napi::TypeError::New(env, "write(count): count must be a number")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (fd_ < 0) {
      txDropped_ += count;
      return Napi::Number::New(env, 0);
    }
    uint32_t sent = WriteFrames(count);
    // A frame that came during the writes (a reply to them) must not wait for the next one.
    if (polling_ && inCallback_ == 0 && uring_.HasMore()) NeedService();
    return Napi::Number::New(env, sent);
  }

  // setTxSources(buffers): registers the buffers TX slots may point into (at most 255). The
  // references keep them alive and their memory in place for as long as this device lives.
  Napi::Value SetTxSources(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsArray()) {
      Napi::TypeError::New(env, "setTxSources(buffers): an array of Buffers").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Array arr = info[0].As<Napi::Array>();
    if (arr.Length() > 255) {
      Napi::RangeError::New(env, "setTxSources: at most 255 buffers").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::vector<std::pair<const uint8_t*, size_t>> next;
    std::vector<Napi::ObjectReference> refs;
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value v = arr.Get(i);
      if (!v.IsBuffer()) {
        Napi::TypeError::New(env, "setTxSources: element " + std::to_string(i) + " is not a Buffer")
            .ThrowAsJavaScriptException();
        return env.Undefined();
      }
      Napi::Buffer<uint8_t> b = v.As<Napi::Buffer<uint8_t>>();
      next.emplace_back(b.Data(), b.Length());
      refs.push_back(Napi::Persistent(v.As<Napi::Object>()));
    }
    sources_ = std::move(next);
    sourceRefs_ = std::move(refs);
    return env.Undefined();
  }

  Napi::Value GetTxSrc(const Napi::CallbackInfo& info) { return RefValue(info, txSrcRef_); }
  Napi::Value GetTxSrcOffsets(const Napi::CallbackInfo& info) { return RefValue(info, txSrcOffRef_); }

  // ---- close --------------------------------------------------------------------------------

  Napi::Value CloseJs(const Napi::CallbackInfo& info) {
    Close();
    return info.Env().Undefined();
  }

  static void EnvCleanup(void* arg) {
    TapDevice* self = static_cast<TapDevice*>(arg);
    self->cleanupHook_ = false;  // Node removes a hook once it has run
    self->Close();
  }

  static void OnPollClosed(uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); }

  void Close() {
    if (poll_ != nullptr) {
      if (polling_) uv_poll_stop(poll_);
      polling_ = false;
      // The handle outlives us until libuv calls back; it must not point here any more.
      poll_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), &TapDevice::OnPollClosed);
      poll_ = nullptr;
    }
    if (pinned_) {
      pinned_ = false;
      // Unref while the object is being finalized is not allowed; by then it is unpinned.
      Napi::ObjectWrap<TapDevice>::Unref();
    }
    Unqueue();
    tapvs::RemoveSpinProbe(this);
    uring_.Close();  // before the fd: the ring holds the TAP open while its read is armed
    CloseFd();
    ReleaseAsyncContextIfClosed();
    if (cleanupHook_) {
      cleanupHook_ = false;
      napi_remove_env_cleanup_hook(env_, &TapDevice::EnvCleanup, this);
    }
  }

  // close() may run inside one of our callbacks, which still uses the async context: it is
  // released when the outermost callback returns.
  void ReleaseAsyncContextIfClosed() {
    if (fd_ < 0 && inCallback_ == 0 && asyncContext_ != nullptr) {
      napi_async_destroy(env_, asyncContext_);
      asyncContext_ = nullptr;
    }
  }

  // Closing the last fd of a non-persistent TAP deletes the device (tun_chr_close).
  void CloseFd() {
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
  }

  // ---- interface control (SIOC* on an AF_INET datagram socket) -------------------------------

  bool PrepareIfreq(struct ifreq* ifr) {
    memset(ifr, 0, sizeof *ifr);
    if (name_.empty() || name_.size() >= IFNAMSIZ) return false;
    memcpy(ifr->ifr_name, name_.data(), name_.size());
    return true;
  }

  // Returns 0 or an errno; on failure with env set, throws a JS error naming the request.
  int IfIoctl(unsigned long req, struct ifreq* ifr, const char* what, Napi::Env* env = nullptr) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
      int err = errno;
      if (env != nullptr) {
        ThrowError(*env, "LINK_CONFIG", err, "socket",
                   WithErrno("TAP " + name_ + ": cannot open a control socket", "socket", err));
      }
      return err;
    }
    int r = ioctl(s, req, ifr);
    int err = r < 0 ? errno : 0;
    close(s);
    if (err != 0 && env != nullptr) {
      const char* code = "LINK_CONFIG";
      std::string msg = "TAP " + name_ + ": cannot " + what;
      if (err == EPERM || err == EACCES) {
        code = "TAP_PERMISSION";
        msg += ": needs CAP_NET_ADMIN";
      } else if (err == ENODEV || err == ENXIO) {
        code = "TAP_GONE";
        msg += ": no such device in this network namespace";
      }
      ThrowError(*env, code, err, "ioctl", WithErrno(msg, "ioctl", err));
    }
    return err;
  }

  Napi::Value GetMac(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct ifreq ifr;
    PrepareIfreq(&ifr);
    if (IfIoctl(SIOCGIFHWADDR, &ifr, "read the MAC address", &env) != 0) return env.Undefined();
    return Napi::Buffer<uint8_t>::Copy(
        env, reinterpret_cast<const uint8_t*>(ifr.ifr_hwaddr.sa_data), 6);
  }

  Napi::Value SetMac(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().ByteLength() != 6) {
      Napi::TypeError::New(env, "setMac(mac): mac must be 6 bytes").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
    const uint8_t* mac = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    struct ifreq ifr;
    PrepareIfreq(&ifr);
    ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
    IfIoctl(SIOCSIFHWADDR, &ifr, "set the MAC address", &env);
    return env.Undefined();
  }

  Napi::Value GetMtu(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct ifreq ifr;
    PrepareIfreq(&ifr);
    if (IfIoctl(SIOCGIFMTU, &ifr, "read the MTU", &env) != 0) return env.Undefined();
    return Napi::Number::New(env, ifr.ifr_mtu);
  }

  Napi::Value SetMtu(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) {
      Napi::TypeError::New(env, "setMtu(mtu): mtu must be a number").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    struct ifreq ifr;
    PrepareIfreq(&ifr);
    ifr.ifr_mtu = info[0].As<Napi::Number>().Int32Value();
    IfIoctl(SIOCSIFMTU, &ifr, ("set the MTU to " + std::to_string(ifr.ifr_mtu)).c_str(), &env);
    return env.Undefined();
  }

  Napi::Value SetUp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bool up = info.Length() < 1 || info[0].ToBoolean().Value();
    struct ifreq ifr;
    PrepareIfreq(&ifr);
    if (IfIoctl(SIOCGIFFLAGS, &ifr, "read the interface flags", &env) != 0) return env.Undefined();
    short flags = ifr.ifr_flags;
    short want = up ? static_cast<short>(flags | IFF_UP) : static_cast<short>(flags & ~IFF_UP);
    if (want == flags) return env.Undefined();
    ifr.ifr_flags = want;
    IfIoctl(SIOCSIFFLAGS, &ifr, up ? "set the link up" : "set the link down", &env);
    return env.Undefined();
  }

  // ---- properties ---------------------------------------------------------------------------

  Napi::Value GetName(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), name_);
  }
  Napi::Value GetIfindex(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), ifindex_);
  }
  Napi::Value GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
  Napi::Value GetSlots(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), slots_);
  }
  Napi::Value GetSlotSize(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), slotSize_);
  }
  Napi::Value GetVnetHdrLen(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), vnetHdrLen_);
  }
  Napi::Value GetOffloads(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array a = Napi::Array::New(env);
    uint32_t n = 0;
    static const struct {
      unsigned long bit;
      const char* name;
    } kNames[] = {{TUN_F_CSUM, "csum"}, {TUN_F_TSO4, "tso4"}, {TUN_F_TSO6, "tso6"},
                  {TUN_F_USO4, "uso4"}, {TUN_F_USO6, "uso6"}};
    for (const auto& o : kNames) {
      if (offloadMask_ & o.bit) a.Set(n++, Napi::String::New(env, o.name));
    }
    return a;
  }
  Napi::Value GetRxBuf(const Napi::CallbackInfo& info) { return RefValue(info, rxBufRef_); }
  Napi::Value GetRxLengths(const Napi::CallbackInfo& info) { return RefValue(info, rxLenRef_); }
  Napi::Value GetTxBuf(const Napi::CallbackInfo& info) { return RefValue(info, txBufRef_); }
  Napi::Value GetTxLengths(const Napi::CallbackInfo& info) { return RefValue(info, txLenRef_); }
  Napi::Value RefValue(const Napi::CallbackInfo& info, Napi::ObjectReference& ref) {
    if (ref.IsEmpty()) return info.Env().Undefined();
    return ref.Value();
  }
  Napi::Value GetRxFrames(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), rxFrames_);
  }
  Napi::Value GetRxBatches(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), rxBatches_);
  }
  Napi::Value GetRxTruncated(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), rxTruncated_);
  }
  Napi::Value GetTxFrames(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), txFrames_);
  }
  Napi::Value GetTxDropped(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), txDropped_);
  }
  Napi::Value GetPolling(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), polling_);
  }
  Napi::Value GetClosed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), fd_ < 0);
  }
  Napi::Value GetIo(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), uring_.IsOpen() ? "uring" : "readwrite");
  }
  Napi::Value GetIoFallback(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), ioFallback_);
  }
  // Lets a caller that asked for `tun: true` tell this addon from an older one that ignores it.
  Napi::Value GetTun(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), tun_);
  }

  napi_env env_ = nullptr;
  uv_loop_t* loop_ = nullptr;
  uv_poll_t* poll_ = nullptr;  // heap-allocated: freed by OnPollClosed, maybe after we are gone
  napi_async_context asyncContext_ = nullptr;
  int fd_ = -1;
  std::string name_;
  int ifindex_ = 0;
  uint32_t slots_ = 0;
  uint32_t slotSize_ = 0;
  int vnetHdrLen_ = 0;
  unsigned long offloadMask_ = 0;
  bool tun_ = false;
  // The io_uring path (native/tap-uring.cc), when open; else read()/write() per frame.
  tapvs::TapUring uring_;
  std::string ioFallback_;  // why io_uring is not used, when it is not
  bool polling_ = false;
  bool pinned_ = false;
  bool loopRef_ = true;
  bool gone_ = false;
  int goneErrno_ = 0;
  bool cleanupHook_ = false;
  int inCallback_ = 0;
  bool queued_ = false;  // in t_queue (cross-link service)

  uint8_t* rx_ = nullptr;
  uint8_t* tx_ = nullptr;
  uint32_t* rxLen_ = nullptr;
  uint32_t* txLen_ = nullptr;
  Napi::ObjectReference rxBufRef_;
  Napi::ObjectReference txBufRef_;
  Napi::ObjectReference rxLenRef_;
  Napi::ObjectReference txLenRef_;
  uint8_t* txSrc_ = nullptr;
  uint32_t* txSrcOff_ = nullptr;
  Napi::ObjectReference txSrcRef_;
  Napi::ObjectReference txSrcOffRef_;
  std::vector<std::pair<const uint8_t*, size_t>> sources_;
  std::vector<Napi::ObjectReference> sourceRefs_;
  Napi::FunctionReference onBatch_;
  Napi::FunctionReference onError_;

  // Counters as doubles: exact to 2^53, beyond what a uint32 would hold after hours of traffic.
  double rxFrames_ = 0;
  double rxBatches_ = 0;
  double rxTruncated_ = 0;
  double txFrames_ = 0;
  double txDropped_ = 0;
};

thread_local int TapDevice::t_servicing = 0;
thread_local std::vector<TapDevice*> TapDevice::t_queue;

Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  return RegisterPacket(env, tapvs::RegisterPolling(env, RegisterNotify(env, TapDevice::Init(env, exports))));
}

}  // namespace

NODE_API_MODULE(tapvs_tap, InitAll)
