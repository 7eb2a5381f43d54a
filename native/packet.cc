// PacketSocket: the director attached to an existing Ethernet interface through an AF_PACKET
// socket (the `packet=` link, src/link/packet.ts). Part of the tapvs_tap addon.
//
// What it is: socket(AF_PACKET, SOCK_RAW) bound to one interface, batch receive either from a
// TPACKET_V3 ring mmapped from the kernel (rxRing) or with recvmmsg(2), and batch transmit with
// sendmmsg(2). Frames move between the ring
// and memory shared with JavaScript exactly as native/tap.cc moves them for a TAP device, so the
// JavaScript side is the same: rxBuf/txBuf of slots * slotSize bytes, rxLengths/txLengths
// Uint32Array(slots), txSrc/txSrcOffsets for zero-copy TX from registered buffers, onBatch
// called once per batch, its return value the number of TX frames to send right after it.
//
// Contract the JavaScript side relies on:
// - The socket is opened with protocol 0 (it receives nothing), the classic BPF filter given by
//   JavaScript is attached, the ring is set up, and only then is it bound to the interface with
//   ETH_P_ALL: no frame ever reaches the ring unfiltered.
// - RX without a ring (rxRing false): recvmmsg into the RX slots, up to kMaxBatchesPerWake
//   batches per wake-up; the socket is readable as soon as one frame is queued.
// - RX with the ring (rxRing true): the kernel fills ring blocks (TPACKET_V3) and hands a block over when it is full, when
//   the next frame does not fit, or when `retireMs` has passed since the block was opened; the
//   socket then polls readable (uv_poll on the fd, like the TAP fd). On a wake-up every handed
//   over block is walked, each frame copied into the next RX slot (virtio-net header first with
//   vnetHdr), the block given back to the kernel, and onBatch(count) called when the slots are
//   full and once at the end: one JavaScript call per 64 frames or per wake-up, nothing
//   allocated per frame. At most one ring's worth of blocks is walked per wake-up, so a busy
//   link does not starve timers; the poll is level-triggered and comes back for the rest.
// - vnetHdr: PACKET_VNET_HDR with the legacy 10-byte struct virtio_net_hdr on the socket (every
//   kernel since 3.x; PACKET_VNET_HDR_SZ for the 12-byte layout is Linux 6.3). JavaScript sees
//   the 12-byte virtio_net_hdr_v1 of the TAP path (src/link/vnet-hdr.ts): the first 10 bytes are
//   the same fields, num_buffers is zero on RX and ignored on TX. TX sends the first 10 bytes and
//   the frame as two iovecs, so a frame forwarded zero-copy from a TAP RX ring leaves as it is.
//   GRO'd super-frames arrive whole (gso_type, gso_size) and GSO frames leave whole: the kernel
//   segments them (tcp4_gso_segment) or hands them on (veth).
// - A frame the kernel stripped a VLAN tag from (TP_STATUS_VLAN_VALID) gets the tag back in
//   the copy, as libpcap does, so the dataplane sees the frame as it was on the wire.
// - A frame cut short in the ring (tp_snaplen < tp_len: larger than a block can hold) is not
//   delivered but counted in rxTruncated.
// - TX: write(count) sends TX frames 0..count-1 with sendmmsg, as many per system call as the
//   kernel takes; a frame it refuses (ENOBUFS, EMSGSIZE, ENETDOWN) is counted in txDropped and
//   the rest still go. With PACKET_QDISC_BYPASS the frames skip the interface's qdisc
//   (dev_direct_xmit), as a NIC driver fed by a user-space stack would want.
// - PACKET_IGNORE_OUTGOING (Linux 4.20): frames leaving the interface (ours, the kernel's)
//   never come back into the ring. Where the kernel lacks it the BPF filter still drops frames
//   from the director's MAC and the interface's, and `ignoreOutgoing` says false.
// - PACKET_FANOUT (`fanout`): the socket joins a fanout group in hash mode, so more sockets
//   (one per queue or worker) can share the interface's traffic by flow. fanout = -2 asks the
//   kernel for a fresh group id (PACKET_FANOUT_FLAG_UNIQUEID, Linux 4.6), which `fanoutGroup`
//   reports for others to join; fanout 0..65535 joins that group; -1 stays out of any group.
// - Errors thrown from the constructor carry `code` (LINK_CONFIG, TAP_PERMISSION,
//   TAP_NO_DEVICE), `errno` and `syscall`, and a message naming the interface and the way out.
//   A socket error while polling (the interface went down or was deleted: ENETDOWN) is read
//   with SO_ERROR; an interface that still exists only went down and polling goes on; one that
//   is gone is reported once to onError as TAP_GONE.
//
// What it does not do: no parsing, no policy, no interface configuration (the MAC, the MTU and
// the link state are the interface's; promiscuous mode is a membership of this socket that ends
// with it, PACKET_MR_PROMISC).
//
// Kernel behaviour matched: net/packet/af_packet.c (tpacket_rcv and prb_* for TPACKET_V3 block
// retirement, packet_snd with the vnet header, packet_notifier setting sk_err on NETDEV_DOWN and
// NETDEV_UNREGISTER, fanout_add), Documentation/networking/packet_mmap.rst.

#include <napi.h>
#include <uv.h>

#include "poll-spin.h"

#include <string>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef PACKET_QDISC_BYPASS
#define PACKET_QDISC_BYPASS 20
#endif
#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef PACKET_FANOUT_FLAG_UNIQUEID
#define PACKET_FANOUT_FLAG_UNIQUEID 0x2000
#endif

Napi::Object RegisterPacket(Napi::Env env, Napi::Object exports);

namespace {

// What JavaScript sees in front of a frame (virtio_net_hdr_v1) and what the socket speaks
// (struct virtio_net_hdr, the legacy layout): see the header.
constexpr uint32_t kJsVnetHdrLen = 12;
constexpr uint32_t kSockVnetHdrLen = 10;
constexpr uint32_t kMaxSlots = 4096;
constexpr uint32_t kMaxSlotSize = 1u << 20;
// Ring geometry (see src/link/packet.ts for the choice): blocks must be page multiples and hold
// one 64 KB super-frame with its headers.
constexpr uint32_t kMinBlockSize = 1u << 17;
constexpr uint32_t kMaxBlockSize = 1u << 22;
constexpr uint32_t kMaxBlocks = 1024;
// tp_frame_size for TPACKET_V3 is only checked, not used for placement.
constexpr uint32_t kRingFrameSize = 2048;
constexpr uint32_t kVlanHlen = 4;
// recvmmsg mode: full batches read per wake-up before yielding to the event loop (as tap.cc).
constexpr int kMaxBatchesPerWake = 4;

Napi::Error MakeError(Napi::Env env, const char* code, int err, const char* syscall,
                      const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  if (err != 0) e.Set("errno", Napi::Number::New(env, err));
  if (syscall != nullptr) e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

std::string WithErrno(const std::string& message, const char* syscall, int err) {
  return message + " (" + syscall + ": " + strerror(err) + ")";
}

class PacketSocket : public Napi::ObjectWrap<PacketSocket> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(
        env, "PacketSocket",
        {
            InstanceMethod<&PacketSocket::Start>("start"),
            InstanceMethod<&PacketSocket::Stop>("stop"),
            InstanceMethod<&PacketSocket::Write>("write"),
            InstanceMethod<&PacketSocket::SetTxSources>("setTxSources"),
            InstanceMethod<&PacketSocket::CloseJs>("close"),
            InstanceMethod<&PacketSocket::RefJs>("ref"),
            InstanceMethod<&PacketSocket::UnrefJs>("unref"),
            InstanceMethod<&PacketSocket::Stats>("stats"),
            InstanceAccessor<&PacketSocket::GetIfindex>("ifindex"),
            InstanceAccessor<&PacketSocket::GetSlots>("slots"),
            InstanceAccessor<&PacketSocket::GetSlotSize>("slotSize"),
            InstanceAccessor<&PacketSocket::GetVnetHdrLen>("vnetHdrLen"),
            InstanceAccessor<&PacketSocket::GetRxBuf>("rxBuf"),
            InstanceAccessor<&PacketSocket::GetRxLengths>("rxLengths"),
            InstanceAccessor<&PacketSocket::GetTxBuf>("txBuf"),
            InstanceAccessor<&PacketSocket::GetTxLengths>("txLengths"),
            InstanceAccessor<&PacketSocket::GetTxSrc>("txSrc"),
            InstanceAccessor<&PacketSocket::GetTxSrcOffsets>("txSrcOffsets"),
            InstanceAccessor<&PacketSocket::GetRxFrames>("rxFrames"),
            InstanceAccessor<&PacketSocket::GetRxBatches>("rxBatches"),
            InstanceAccessor<&PacketSocket::GetRxBlocks>("rxBlocks"),
            InstanceAccessor<&PacketSocket::GetRxTruncated>("rxTruncated"),
            InstanceAccessor<&PacketSocket::GetTxFrames>("txFrames"),
            InstanceAccessor<&PacketSocket::GetTxDropped>("txDropped"),
            InstanceAccessor<&PacketSocket::GetTxCalls>("txCalls"),
            InstanceAccessor<&PacketSocket::GetDownEvents>("downEvents"),
            InstanceAccessor<&PacketSocket::GetFanoutGroup>("fanoutGroup"),
            InstanceAccessor<&PacketSocket::GetIgnoreOutgoing>("ignoreOutgoing"),
            InstanceAccessor<&PacketSocket::GetQdiscBypass>("qdiscBypass"),
            InstanceAccessor<&PacketSocket::GetRingBytes>("ringBytes"),
            InstanceAccessor<&PacketSocket::GetRxRing>("rxRing"),
            InstanceAccessor<&PacketSocket::GetPolling>("polling"),
            InstanceAccessor<&PacketSocket::GetClosed>("closed"),
        });
    exports.Set("PacketSocket", ctor);
    return exports;
  }

  // new PacketSocket(ifname, { slots, slotSize, vnetHdr, promiscuous, blockSize, blockCount,
  //                            retireMs, filter: Uint32Array (code, jt, jf, k per insn), fanout })
  explicit PacketSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PacketSocket>(info) {
    Napi::Env env = info.Env();
    env_ = env;
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsObject()) {
      Napi::TypeError::New(env, "PacketSocket(ifname, opts)").ThrowAsJavaScriptException();
      return;
    }
    name_ = info[0].As<Napi::String>().Utf8Value();
    Napi::Object o = info[1].As<Napi::Object>();
    auto num = [&o](const char* k, int64_t dflt) -> int64_t {
      Napi::Value v = o.Get(k);
      return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : dflt;
    };
    int64_t slots = num("slots", 64);
    int64_t slotSize = num("slotSize", 2048);
    int64_t blockSize = num("blockSize", 1 << 18);
    int64_t blockCount = num("blockCount", 32);
    int64_t retireMs = num("retireMs", 1);
    int64_t fanout = num("fanout", -1);  // -1: none, -2: a new group, 0..65535: join that one
    bool vnetHdr = o.Get("vnetHdr").ToBoolean().Value();
    bool promiscuous = o.Get("promiscuous").ToBoolean().Value();
    // rxRing false: no ring, recvmmsg into the slots (see "RX without a ring" below).
    Napi::Value ringOpt = o.Get("rxRing");
    rxRing_ = ringOpt.IsBoolean() ? ringOpt.As<Napi::Boolean>().Value() : true;
    const std::string label = "packet " + name_;
    if (name_.empty() || name_.size() >= IFNAMSIZ) {
      Throw("LINK_CONFIG", 0, nullptr, label + ": not a valid interface name");
      return;
    }
    long page = sysconf(_SC_PAGESIZE);
    if (slots < 1 || slots > kMaxSlots || slotSize < 64 || slotSize > kMaxSlotSize ||
        blockSize < kMinBlockSize || blockSize > kMaxBlockSize || blockSize % page != 0 ||
        blockCount < 2 || blockCount > kMaxBlocks || retireMs < 1 || retireMs > 1000 ||
        fanout < -2 || fanout > 0xffff) {
      Throw("LINK_CONFIG", 0, nullptr, label + ": ring or batch option out of range");
      return;
    }
    slots_ = static_cast<uint32_t>(slots);
    slotSize_ = static_cast<uint32_t>(slotSize);
    vnetHdrLen_ = vnetHdr ? kJsVnetHdrLen : 0;

    ifindex_ = static_cast<int>(if_nametoindex(name_.c_str()));
    if (ifindex_ == 0) {
      Throw("TAP_NO_DEVICE", errno, "if_nametoindex",
            label + ": no such interface in this network namespace (see ip link)");
      return;
    }
    // Protocol 0: the socket receives nothing until bind() below names ETH_P_ALL.
    fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      int err = errno;
      if (err == EPERM || err == EACCES) {
        Throw("TAP_PERMISSION", err, "socket",
              WithErrno(label + ": cannot open a packet socket: needs CAP_NET_RAW (run as root or"
                                " grant the capability)",
                        "socket", err));
      } else {
        Throw("LINK_CONFIG", err, "socket",
              WithErrno(label + ": cannot open a packet socket (is CONFIG_PACKET built?)",
                        "socket", err));
      }
      return;
    }

    Napi::Value f = o.Get("filter");
    if (f.IsTypedArray()) {
      Napi::Uint32Array words = f.As<Napi::Uint32Array>();
      size_t n = words.ElementLength() / 4;
      if (n == 0 || n > BPF_MAXINSNS) {
        Fail("LINK_CONFIG", 0, nullptr, label + ": BPF filter of " + std::to_string(n) + " insns");
        return;
      }
      std::vector<struct sock_filter> insns(n);
      for (size_t i = 0; i < n; i++) {
        insns[i].code = static_cast<uint16_t>(words[i * 4]);
        insns[i].jt = static_cast<uint8_t>(words[i * 4 + 1]);
        insns[i].jf = static_cast<uint8_t>(words[i * 4 + 2]);
        insns[i].k = words[i * 4 + 3];
      }
      struct sock_fprog prog;
      prog.len = static_cast<unsigned short>(n);
      prog.filter = insns.data();
      if (!SetOpt(SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog, "SO_ATTACH_FILTER",
                  "the kernel refused the BPF filter"))
        return;
    }
    int one = 1;
    // Both must come before the ring: the kernel refuses them once a ring exists (EBUSY).
    if (vnetHdr && !SetOpt(SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one, "PACKET_VNET_HDR",
                           "the kernel refused virtio-net headers"))
      return;
    if (rxRing_ && !SetupRing(blockSize, blockCount, retireMs)) return;
    // Optional: older kernels lack them, and the link works without (see the header).
    qdiscBypass_ = setsockopt(fd_, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) == 0;
    ignoreOutgoing_ = setsockopt(fd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) == 0;
    if (!rxRing_) {
      // Room for what arrives between two wake-ups (the ring's size in the other mode): a 64 KB
      // super-frame costs its truesize, and net.core.rmem_max (208 KiB by default) would cap
      // SO_RCVBUF at three of them. SO_RCVBUFFORCE (CAP_NET_ADMIN) passes the cap.
      int rcvbuf = static_cast<int>(blockSize * blockCount);
      if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
        setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    }
    // The same for transmit: a TX batch of super-frames is charged to the send buffer until the
    // driver frees them, and a full one refuses frames (EAGAIN, counted in txDropped).
    int sndbuf = 4 << 20;
    if (setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) != 0)
      setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (!BindAndJoin(label, promiscuous, fanout)) return;
    if (!MakeBuffers(env)) return;
    if (napi_get_uv_event_loop(env, &loop_) != napi_ok || loop_ == nullptr) {
      Fail("LINK_CONFIG", 0, nullptr, label + ": no libuv loop");
      return;
    }
    napi_add_env_cleanup_hook(env, &PacketSocket::EnvCleanup, this);
    cleanupHook_ = true;
  }

  ~PacketSocket() override { Close(); }

 private:
  bool SetupRing(int64_t blockSize, int64_t blockCount, int64_t retireMs) {
    const std::string label = "packet " + name_;
    int version = TPACKET_V3;
    if (!SetOpt(SOL_PACKET, PACKET_VERSION, &version, sizeof version, "PACKET_VERSION",
                "the kernel has no TPACKET_V3 (Linux 3.2)"))
      return false;
    struct tpacket_req3 req;
    memset(&req, 0, sizeof req);
    req.tp_block_size = static_cast<unsigned>(blockSize);
    req.tp_block_nr = static_cast<unsigned>(blockCount);
    req.tp_frame_size = kRingFrameSize;
    req.tp_frame_nr = static_cast<unsigned>(blockSize / kRingFrameSize * blockCount);
    req.tp_retire_blk_tov = static_cast<unsigned>(retireMs);
    if (!SetOpt(SOL_PACKET, PACKET_RX_RING, &req, sizeof req, "PACKET_RX_RING",
                "cannot set up the receive ring"))
      return false;
    ringBytes_ = static_cast<size_t>(blockSize) * static_cast<size_t>(blockCount);
    void* ring = mmap(nullptr, ringBytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (ring == MAP_FAILED) {
      int err = errno;
      ringBytes_ = 0;
      Fail("LINK_CONFIG", err, "mmap", WithErrno(label + ": cannot map the receive ring", "mmap", err));
      return false;
    }
    ring_ = static_cast<uint8_t*>(ring);
    blockSize_ = static_cast<uint32_t>(blockSize);
    blockCount_ = static_cast<uint32_t>(blockCount);
    return true;
  }

  bool BindAndJoin(const std::string& label, bool promiscuous, int64_t fanout) {

    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = ifindex_;
    if (bind(fd_, reinterpret_cast<struct sockaddr*>(&sll), sizeof sll) < 0) {
      int err = errno;
      Fail(err == ENODEV || err == ENXIO ? "TAP_NO_DEVICE" : "LINK_CONFIG", err, "bind",
           WithErrno(label + ": cannot bind to the interface", "bind", err));
      return false;
    }
    if (promiscuous) {
      struct packet_mreq mr;
      memset(&mr, 0, sizeof mr);
      mr.mr_ifindex = ifindex_;
      mr.mr_type = PACKET_MR_PROMISC;
      if (!SetOpt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr, "PACKET_ADD_MEMBERSHIP",
                  "cannot turn promiscuous mode on"))
        return false;
    }
    if (fanout != -1) {
      // Hash mode: one flow always reaches the same socket of the group.
      int flags = fanout == -2 ? PACKET_FANOUT_FLAG_UNIQUEID : 0;
      int val = static_cast<int>(fanout < 0 ? 0 : fanout) | ((PACKET_FANOUT_HASH | flags) << 16);
      if (!SetOpt(SOL_PACKET, PACKET_FANOUT, &val, sizeof val, "PACKET_FANOUT",
                  "cannot join fanout group " + std::to_string(fanout) +
                      " (another group of that id on this interface with another mode?)"))
        return false;
      int got = 0;
      socklen_t len = sizeof got;
      if (getsockopt(fd_, SOL_PACKET, PACKET_FANOUT, &got, &len) == 0) fanoutGroup_ = got & 0xffff;
    }

    return true;
  }

  bool MakeBuffers(Napi::Env env) {
    size_t bytes = static_cast<size_t>(slots_) * slotSize_;
    Napi::Buffer<uint8_t> rxBuf = Napi::Buffer<uint8_t>::New(env, bytes);
    Napi::Buffer<uint8_t> txBuf = Napi::Buffer<uint8_t>::New(env, bytes);
    Napi::Uint32Array rxLen = Napi::Uint32Array::New(env, slots_);
    Napi::Uint32Array txLen = Napi::Uint32Array::New(env, slots_);
    Napi::Uint8Array txSrc = Napi::Uint8Array::New(env, slots_);
    Napi::Uint32Array txSrcOff = Napi::Uint32Array::New(env, slots_);
    if (env.IsExceptionPending()) {
      CloseFd();
      return false;
    }
    rx_ = rxBuf.Data();
    tx_ = txBuf.Data();
    rxLen_ = rxLen.Data();
    txLen_ = txLen.Data();
    txSrc_ = txSrc.Data();
    txSrcOff_ = txSrcOff.Data();
    rxBufRef_ = Napi::Persistent(rxBuf.As<Napi::Object>());
    txBufRef_ = Napi::Persistent(txBuf.As<Napi::Object>());
    rxLenRef_ = Napi::Persistent(rxLen.As<Napi::Object>());
    txLenRef_ = Napi::Persistent(txLen.As<Napi::Object>());
    txSrcRef_ = Napi::Persistent(txSrc.As<Napi::Object>());
    txSrcOffRef_ = Napi::Persistent(txSrcOff.As<Napi::Object>());
    // sendmmsg's arrays, made once: two iovecs per message (vnet header, frame).
    msgs_.resize(slots_);
    iov_.resize(static_cast<size_t>(slots_) * 2);
    if (!rxRing_) {
      rxMsgs_.resize(slots_);
      rxIov_.resize(static_cast<size_t>(slots_) * 2);
      for (uint32_t i = 0; i < slots_; i++) {
        uint8_t* slot = rx_ + static_cast<size_t>(i) * slotSize_;
        struct iovec* iov = &rxIov_[static_cast<size_t>(i) * 2];
        struct msghdr& h = rxMsgs_[i].msg_hdr;
        memset(&h, 0, sizeof h);
        h.msg_iov = iov;
        if (vnetHdrLen_ > 0) {
          iov[0].iov_base = slot;
          iov[0].iov_len = kSockVnetHdrLen;
          iov[1].iov_base = slot + vnetHdrLen_;
          iov[1].iov_len = slotSize_ - vnetHdrLen_;
          h.msg_iovlen = 2;
        } else {
          iov[0].iov_base = slot;
          iov[0].iov_len = slotSize_;
          h.msg_iovlen = 1;
        }
      }
    }
    return true;
  }

  void Throw(const char* code, int err, const char* syscall, const std::string& msg) {
    MakeError(env_, code, err, syscall, msg).ThrowAsJavaScriptException();
  }
  // Throws and releases what the constructor made so far.
  void Fail(const char* code, int err, const char* syscall, const std::string& msg) {
    CloseFd();
    Throw(code, err, syscall, msg);
  }
  bool SetOpt(int level, int opt, const void* val, socklen_t len, const char* what,
              const std::string& msg) {
    if (setsockopt(fd_, level, opt, val, len) == 0) return true;
    int err = errno;
    const char* code = (err == EPERM || err == EACCES) ? "TAP_PERMISSION" : "LINK_CONFIG";
    Fail(code, err, "setsockopt", WithErrno("packet " + name_ + ": " + msg, what, err));
    return false;
  }

  // ---- poll and batches ---------------------------------------------------------------------

  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsFunction()) {
      Napi::TypeError::New(env, "start(onBatch, onError?)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (fd_ < 0 || gone_) {
      Throw("TAP_GONE", 0, nullptr, "packet " + name_ + " is closed or gone");
      return env.Undefined();
    }
    if (polling_) {
      Throw("LINK_CONFIG", 0, nullptr, "packet " + name_ + " is already started");
      return env.Undefined();
    }
    onBatch_ = Napi::Persistent(info[0].As<Napi::Function>());
    if (info.Length() >= 2 && info[1].IsFunction()) {
      onError_ = Napi::Persistent(info[1].As<Napi::Function>());
    } else {
      onError_.Reset();
    }
    if (asyncContext_ == nullptr) {
      napi_value resourceName = Napi::String::New(env, "tapvs:packet");
      napi_async_init(env, nullptr, resourceName, &asyncContext_);
    }
    if (poll_ == nullptr) {
      poll_ = new uv_poll_t;
      int r = uv_poll_init_socket(loop_, poll_, fd_);
      if (r != 0) {
        delete poll_;
        poll_ = nullptr;
        Throw("LINK_CONFIG", -r, "uv_poll_init",
              "packet " + name_ + ": cannot poll the socket (" + uv_strerror(r) + ")");
        return env.Undefined();
      }
      poll_->data = this;
    }
    if (!StartPoll()) {
      Throw("LINK_CONFIG", 0, "uv_poll_start", "packet " + name_ + ": cannot poll the socket");
      return env.Undefined();
    }
    if (!pinned_) {
      Napi::ObjectWrap<PacketSocket>::Ref();
      pinned_ = true;
    }
    if (!loopRef_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    // Blocks handed over before start() raise no new readiness edge with level polling either
    // way; nothing to do here.
    return env.Undefined();
  }

  bool StartPoll() {
    if (uv_poll_start(poll_, UV_READABLE, &PacketSocket::OnPoll) != 0) return false;
    polling_ = true;
    return true;
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    StopPolling();
    return info.Env().Undefined();
  }

  void StopPolling() {
    if (poll_ != nullptr && polling_) uv_poll_stop(poll_);
    polling_ = false;
    if (pinned_) {
      pinned_ = false;
      Napi::ObjectWrap<PacketSocket>::Unref();
    }
  }

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
    PacketSocket* self = static_cast<PacketSocket*>(handle->data);
    if (self == nullptr) return;
    self->OnReadable(status, events);
  }

  void OnReadable(int status, int /*events*/) {
    Napi::HandleScope scope(env_);
    if (status < 0) {
      // libuv stops the handle on POLLERR (UV_EBADF): the socket has sk_err set, ENETDOWN
      // from packet_notifier. Reading SO_ERROR clears it.
      int soErr = 0;
      socklen_t len = sizeof soErr;
      getsockopt(fd_, SOL_SOCKET, SO_ERROR, &soErr, &len);
      polling_ = false;
      if (static_cast<int>(if_nametoindex(name_.c_str())) == ifindex_) {
        // Only down: the kernel re-hooks the socket when the interface comes up again.
        downEvents_++;
        if (!StartPoll()) ReportError(soErr != 0 ? soErr : EBADF);
        else Drain();
        return;
      }
      ReportError(soErr != 0 ? soErr : ENODEV);
      return;
    }
    Drain();
  }

  void Drain() {
    if (rxRing_) DrainRing();
    else DrainRecv();
  }

  // RX without a ring: recvmmsg straight into the RX slots, one system call per batch (the
  // kernel wakes us per frame, as for a TAP, so a lone frame waits for no block to retire). At
  // most kMaxBatchesPerWake full batches per wake-up. A VLAN tag stripped by the NIC is not
  // restored in this mode (it would need PACKET_AUXDATA control messages).
  void DrainRecv() {
    for (int pass = 0; pass < kMaxBatchesPerWake && polling_; pass++) {
      for (uint32_t i = 0; i < slots_; i++) rxMsgs_[i].msg_hdr.msg_flags = 0;
      int n = recvmmsg(fd_, rxMsgs_.data(), slots_, MSG_DONTWAIT, nullptr);
      if (n < 0) {
        if (errno == EINTR) continue;
        return;  // EAGAIN: drained; a socket error comes back as POLLERR
      }
      uint32_t count = 0;
      for (int i = 0; i < n; i++) {
        const struct mmsghdr& m = rxMsgs_[i];
        uint32_t len = m.msg_len + (vnetHdrLen_ - (vnetHdrLen_ > 0 ? kSockVnetHdrLen : 0));
        if ((m.msg_hdr.msg_flags & MSG_TRUNC) != 0 || len < vnetHdrLen_ + 14) {
          rxTruncated_++;
          continue;
        }
        uint8_t* slot = rx_ + static_cast<size_t>(i) * slotSize_;
        if (vnetHdrLen_ > 0) {
          slot[10] = 0;
          slot[11] = 0;
        }
        if (static_cast<uint32_t>(i) != count) {
          // A truncated frame left a gap: slots must be consecutive.
          memmove(rx_ + static_cast<size_t>(count) * slotSize_, slot, len);
        }
        rxLen_[count++] = len;
      }
      if (count > 0) {
        if (pass == 0) tapvs::NoteRx(loop_);  // adaptive polling: poll-spin.cc
        Deliver(count);
      }
      if (fd_ < 0) return;
      if (static_cast<uint32_t>(n) < slots_) return;
    }
  }

  // Walks the blocks the kernel has handed over (at most one ring's worth), copying frames into
  // RX slots and calling onBatch when the slots are full and at the end.
  void DrainRing() {
    uint32_t count = 0;
    tapvs::NoteRx(loop_);  // adaptive polling (poll-spin.cc): a block was handed over
    for (uint32_t b = 0; b < blockCount_ && polling_; b++) {
      auto* blk = reinterpret_cast<struct tpacket_block_desc*>(
          ring_ + static_cast<size_t>(curBlock_) * blockSize_);
      if ((__atomic_load_n(&blk->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0)
        break;
      uint32_t n = blk->hdr.bh1.num_pkts;
      // A walk that stop() interrupted resumes where it was, so no frame is delivered twice.
      uint32_t off = curPkt_ == 0 ? blk->hdr.bh1.offset_to_first_pkt : curOff_;
      for (uint32_t i = curPkt_; i < n; i++) {
        auto* h = reinterpret_cast<struct tpacket3_hdr*>(reinterpret_cast<uint8_t*>(blk) + off);
        CopyFrame(h, reinterpret_cast<uint8_t*>(h), &count);
        off += h->tp_next_offset;
        if (count == slots_) {
          Deliver(count);
          count = 0;
          // onBatch may have closed us (the ring is unmapped then) or stopped us.
          if (fd_ < 0) return;
          if (!polling_) {
            curPkt_ = i + 1;
            curOff_ = off;
            return;
          }
        }
      }
      curPkt_ = 0;
      rxBlocks_++;
      __atomic_store_n(&blk->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
      curBlock_ = (curBlock_ + 1) % blockCount_;
    }
    if (count > 0) Deliver(count);
  }

  void CopyFrame(const struct tpacket3_hdr* h, const uint8_t* base, uint32_t* count) {
    uint32_t snap = h->tp_snaplen;
    bool vlan = (h->tp_status & TP_STATUS_VLAN_VALID) != 0;
    uint32_t need = vnetHdrLen_ + snap + (vlan ? kVlanHlen : 0);
    if (snap < h->tp_len || snap < 14 || need > slotSize_) {
      rxTruncated_++;
      return;
    }
    uint8_t* slot = rx_ + static_cast<size_t>(*count) * slotSize_;
    const uint8_t* mac = base + h->tp_mac;
    if (vnetHdrLen_ > 0) {
      memcpy(slot, mac - kSockVnetHdrLen, kSockVnetHdrLen);
      slot[10] = 0;
      slot[11] = 0;
    }
    uint8_t* frame = slot + vnetHdrLen_;
    if (vlan) {
      // The tag goes back after the two MACs; a partial checksum's csum_start moves with it.
      uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) ? h->hv1.tp_vlan_tpid : ETH_P_8021Q;
      uint16_t tci = h->hv1.tp_vlan_tci;
      memcpy(frame, mac, 12);
      frame[12] = static_cast<uint8_t>(tpid >> 8);
      frame[13] = static_cast<uint8_t>(tpid);
      frame[14] = static_cast<uint8_t>(tci >> 8);
      frame[15] = static_cast<uint8_t>(tci);
      memcpy(frame + 16, mac + 12, snap - 12);
      if (vnetHdrLen_ > 0 && (slot[0] & 1) != 0) {
        uint16_t cs = static_cast<uint16_t>(slot[6] | (slot[7] << 8)) + kVlanHlen;
        slot[6] = static_cast<uint8_t>(cs);
        slot[7] = static_cast<uint8_t>(cs >> 8);
      }
    } else {
      memcpy(frame, mac, snap);
    }
    rxLen_[*count] = need;
    (*count)++;
  }

  void Deliver(uint32_t count) {
    rxFrames_ += count;
    rxBatches_++;
    if (onBatch_.IsEmpty()) return;
    napi_value argv[1];
    napi_create_uint32(env_, count, &argv[0]);
    napi_value result = nullptr;
    inCallback_++;
    napi_status st =
        napi_make_callback(env_, asyncContext_, Value(), onBatch_.Value(), 1, argv, &result);
    inCallback_--;
    ReleaseAsyncContextIfClosed();
    if (st != napi_ok) {
      RaiseUncaught();
      return;
    }
    uint32_t queued = 0;
    if (result != nullptr && napi_get_value_uint32(env_, result, &queued) == napi_ok &&
        queued > 0 && fd_ >= 0) {
      WriteFrames(queued > slots_ ? slots_ : queued);
    }
  }

  void RaiseUncaught() {
    bool pending = false;
    napi_is_exception_pending(env_, &pending);
    if (!pending) return;
    napi_value exc;
    napi_get_and_clear_last_exception(env_, &exc);
    napi_fatal_exception(env_, exc);
  }

  void ReportError(int err) {
    gone_ = true;
    StopPolling();
    Napi::Error e = MakeError(env_, "TAP_GONE", err, "poll",
                              WithErrno("packet " + name_ + ": the interface disappeared", "poll",
                                        err));
    if (onError_.IsEmpty()) {
      napi_fatal_exception(env_, e.Value());
      return;
    }
    napi_value argv[1] = {e.Value()};
    napi_value result;
    inCallback_++;
    napi_status st =
        napi_make_callback(env_, asyncContext_, Value(), onError_.Value(), 1, argv, &result);
    inCallback_--;
    ReleaseAsyncContextIfClosed();
    if (st != napi_ok) RaiseUncaught();
  }

  // ---- TX -----------------------------------------------------------------------------------

  uint32_t WriteFrames(uint32_t count) {
    uint32_t m = 0;
    for (uint32_t i = 0; i < count; i++) {
      uint32_t len = txLen_[i];
      uint8_t* frame;
      uint8_t src = txSrc_[i];
      if (src == 0) {
        if (len <= vnetHdrLen_ + 14 || len > slotSize_) {
          txDropped_++;
          continue;
        }
        frame = tx_ + static_cast<size_t>(i) * slotSize_;
      } else {
        size_t k = static_cast<size_t>(src) - 1;
        size_t off = txSrcOff_[i];
        if (k >= sources_.size() || len <= vnetHdrLen_ + 14 || off + len > sources_[k].second) {
          txDropped_++;
          continue;
        }
        frame = sources_[k].first + off;
      }
      struct iovec* iov = &iov_[static_cast<size_t>(m) * 2];
      struct msghdr& h = msgs_[m].msg_hdr;
      memset(&h, 0, sizeof h);
      h.msg_iov = iov;
      if (vnetHdrLen_ > 0) {
        iov[0].iov_base = frame;
        iov[0].iov_len = kSockVnetHdrLen;
        iov[1].iov_base = frame + vnetHdrLen_;
        iov[1].iov_len = len - vnetHdrLen_;
        h.msg_iovlen = 2;
      } else {
        iov[0].iov_base = frame;
        iov[0].iov_len = len;
        h.msg_iovlen = 1;
      }
      m++;
    }
    uint32_t sent = 0;
    uint32_t i = 0;
    while (i < m) {
      int r = sendmmsg(fd_, &msgs_[i], m - i, MSG_DONTWAIT);
      txCalls_++;
      if (r < 0) {
        if (errno == EINTR) continue;
        // The first message was refused (ENOBUFS, EAGAIN, EMSGSIZE, ENETDOWN): drop it, go on.
        txDropped_++;
        i++;
        continue;
      }
      sent += static_cast<uint32_t>(r);
      i += static_cast<uint32_t>(r);
    }
    txFrames_ += sent;
    return sent;
  }

  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) {
      Napi::TypeError::New(env, "write(count)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int64_t c = info[0].As<Napi::Number>().Int64Value();
    if (c < 0 || c > static_cast<int64_t>(slots_)) {
      Napi::RangeError::New(env, "write(count): count must be 0.." + std::to_string(slots_))
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (fd_ < 0) {
      txDropped_ += static_cast<double>(c);
      return Napi::Number::New(env, 0);
    }
    return Napi::Number::New(env, WriteFrames(static_cast<uint32_t>(c)));
  }

  Napi::Value SetTxSources(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsArray()) {
      Napi::TypeError::New(env, "setTxSources(buffers)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Array arr = info[0].As<Napi::Array>();
    if (arr.Length() > 255) {
      Napi::RangeError::New(env, "setTxSources: at most 255 buffers").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::vector<std::pair<uint8_t*, size_t>> next;
    std::vector<Napi::ObjectReference> refs;
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value v = arr.Get(i);
      if (!v.IsBuffer()) {
        Napi::TypeError::New(env, "setTxSources: not a Buffer").ThrowAsJavaScriptException();
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

  // stats() -> { packets, drops, freezes }: PACKET_STATISTICS since the last call (the kernel
  // resets them on read): frames that passed the filter, and frames lost for want of ring space.
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct tpacket_stats_v3 st;
    memset(&st, 0, sizeof st);
    socklen_t len = sizeof st;
    if (fd_ >= 0) getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len);
    Napi::Object o = Napi::Object::New(env);
    o.Set("packets", Napi::Number::New(env, st.tp_packets));
    o.Set("drops", Napi::Number::New(env, st.tp_drops));
    o.Set("freezes", Napi::Number::New(env, st.tp_freeze_q_cnt));
    return o;
  }

  // ---- close --------------------------------------------------------------------------------

  Napi::Value CloseJs(const Napi::CallbackInfo& info) {
    Close();
    return info.Env().Undefined();
  }

  static void EnvCleanup(void* arg) {
    PacketSocket* self = static_cast<PacketSocket*>(arg);
    self->cleanupHook_ = false;
    self->Close();
  }

  static void OnPollClosed(uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); }

  void Close() {
    if (poll_ != nullptr) {
      if (polling_) uv_poll_stop(poll_);
      polling_ = false;
      poll_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), &PacketSocket::OnPollClosed);
      poll_ = nullptr;
    }
    if (pinned_) {
      pinned_ = false;
      Napi::ObjectWrap<PacketSocket>::Unref();
    }
    CloseFd();
    ReleaseAsyncContextIfClosed();
    if (cleanupHook_) {
      cleanupHook_ = false;
      napi_remove_env_cleanup_hook(env_, &PacketSocket::EnvCleanup, this);
    }
  }

  void ReleaseAsyncContextIfClosed() {
    if (fd_ < 0 && inCallback_ == 0 && asyncContext_ != nullptr) {
      napi_async_destroy(env_, asyncContext_);
      asyncContext_ = nullptr;
    }
  }

  // Closing the socket ends the promiscuous membership and the fanout membership.
  void CloseFd() {
    if (ring_ != nullptr) {
      munmap(ring_, ringBytes_);
      ring_ = nullptr;
    }
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
  }

  // ---- properties ---------------------------------------------------------------------------

  Napi::Value Num(const Napi::CallbackInfo& info, double v) { return Napi::Number::New(info.Env(), v); }
  Napi::Value RefValue(const Napi::CallbackInfo& info, Napi::ObjectReference& ref) {
    if (ref.IsEmpty()) return info.Env().Undefined();
    return ref.Value();
  }
  Napi::Value GetIfindex(const Napi::CallbackInfo& i) { return Num(i, ifindex_); }
  Napi::Value GetSlots(const Napi::CallbackInfo& i) { return Num(i, slots_); }
  Napi::Value GetSlotSize(const Napi::CallbackInfo& i) { return Num(i, slotSize_); }
  Napi::Value GetVnetHdrLen(const Napi::CallbackInfo& i) { return Num(i, vnetHdrLen_); }
  Napi::Value GetRxBuf(const Napi::CallbackInfo& i) { return RefValue(i, rxBufRef_); }
  Napi::Value GetRxLengths(const Napi::CallbackInfo& i) { return RefValue(i, rxLenRef_); }
  Napi::Value GetTxBuf(const Napi::CallbackInfo& i) { return RefValue(i, txBufRef_); }
  Napi::Value GetTxLengths(const Napi::CallbackInfo& i) { return RefValue(i, txLenRef_); }
  Napi::Value GetTxSrc(const Napi::CallbackInfo& i) { return RefValue(i, txSrcRef_); }
  Napi::Value GetTxSrcOffsets(const Napi::CallbackInfo& i) { return RefValue(i, txSrcOffRef_); }
  Napi::Value GetRxFrames(const Napi::CallbackInfo& i) { return Num(i, rxFrames_); }
  Napi::Value GetRxBatches(const Napi::CallbackInfo& i) { return Num(i, rxBatches_); }
  Napi::Value GetRxBlocks(const Napi::CallbackInfo& i) { return Num(i, rxBlocks_); }
  Napi::Value GetRxTruncated(const Napi::CallbackInfo& i) { return Num(i, rxTruncated_); }
  Napi::Value GetTxFrames(const Napi::CallbackInfo& i) { return Num(i, txFrames_); }
  Napi::Value GetTxDropped(const Napi::CallbackInfo& i) { return Num(i, txDropped_); }
  Napi::Value GetTxCalls(const Napi::CallbackInfo& i) { return Num(i, txCalls_); }
  Napi::Value GetDownEvents(const Napi::CallbackInfo& i) { return Num(i, downEvents_); }
  Napi::Value GetFanoutGroup(const Napi::CallbackInfo& i) { return Num(i, fanoutGroup_); }
  Napi::Value GetIgnoreOutgoing(const Napi::CallbackInfo& i) {
    return Napi::Boolean::New(i.Env(), ignoreOutgoing_);
  }
  Napi::Value GetQdiscBypass(const Napi::CallbackInfo& i) {
    return Napi::Boolean::New(i.Env(), qdiscBypass_);
  }
  Napi::Value GetRingBytes(const Napi::CallbackInfo& i) { return Num(i, static_cast<double>(ringBytes_)); }
  Napi::Value GetRxRing(const Napi::CallbackInfo& i) { return Napi::Boolean::New(i.Env(), rxRing_); }
  Napi::Value GetPolling(const Napi::CallbackInfo& i) { return Napi::Boolean::New(i.Env(), polling_); }
  Napi::Value GetClosed(const Napi::CallbackInfo& i) { return Napi::Boolean::New(i.Env(), fd_ < 0); }

  napi_env env_ = nullptr;
  uv_loop_t* loop_ = nullptr;
  uv_poll_t* poll_ = nullptr;
  napi_async_context asyncContext_ = nullptr;
  int fd_ = -1;
  std::string name_;
  int ifindex_ = 0;
  uint32_t slots_ = 0;
  uint32_t slotSize_ = 0;
  uint32_t vnetHdrLen_ = 0;
  uint8_t* ring_ = nullptr;
  size_t ringBytes_ = 0;
  uint32_t blockSize_ = 0;
  uint32_t blockCount_ = 0;
  uint32_t curBlock_ = 0;
  uint32_t curPkt_ = 0;
  uint32_t curOff_ = 0;
  int fanoutGroup_ = -1;
  bool rxRing_ = true;
  bool qdiscBypass_ = false;
  bool ignoreOutgoing_ = false;
  bool polling_ = false;
  bool pinned_ = false;
  bool loopRef_ = true;
  bool gone_ = false;
  bool cleanupHook_ = false;
  int inCallback_ = 0;

  uint8_t* rx_ = nullptr;
  uint8_t* tx_ = nullptr;
  uint32_t* rxLen_ = nullptr;
  uint32_t* txLen_ = nullptr;
  uint8_t* txSrc_ = nullptr;
  uint32_t* txSrcOff_ = nullptr;
  Napi::ObjectReference rxBufRef_;
  Napi::ObjectReference txBufRef_;
  Napi::ObjectReference rxLenRef_;
  Napi::ObjectReference txLenRef_;
  Napi::ObjectReference txSrcRef_;
  Napi::ObjectReference txSrcOffRef_;
  std::vector<std::pair<uint8_t*, size_t>> sources_;
  std::vector<Napi::ObjectReference> sourceRefs_;
  std::vector<struct mmsghdr> msgs_;
  std::vector<struct iovec> iov_;
  std::vector<struct mmsghdr> rxMsgs_;
  std::vector<struct iovec> rxIov_;
  Napi::FunctionReference onBatch_;
  Napi::FunctionReference onError_;

  double rxFrames_ = 0;
  double rxBatches_ = 0;
  double rxBlocks_ = 0;
  double rxTruncated_ = 0;
  double txFrames_ = 0;
  double txDropped_ = 0;
  double txCalls_ = 0;
  double downEvents_ = 0;
};

}  // namespace

Napi::Object RegisterPacket(Napi::Env env, Napi::Object exports) {
  return PacketSocket::Init(env, exports);
}
