// sync_tap: a bench-only addon for bench/latency/node-sync-echo.mjs, never loaded by tapvsd.
// Three synchronous calls on a TAP: open(name) -> fd, wait(fd, buf, timeoutMs) blocks in
// epoll_wait + read and returns the frame's length (0 on timeout), write(fd, buf, len). No libuv,
// no callbacks: JavaScript calls in, as a C loop would call read().

#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <string>

namespace {

int g_epoll = -1;

Napi::Value Fail(Napi::Env env, const char* what) {
  Napi::Error::New(env, std::string("sync_tap: ") + what + ": " + strerror(errno))
      .ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (name.empty() || name.size() >= IFNAMSIZ) return Fail(env, "bad name");
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return Fail(env, "open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  memcpy(ifr.ifr_name, name.data(), name.size());
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) return Fail(env, "TUNSETIFF");
  if (g_epoll < 0) g_epoll = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (g_epoll < 0 || epoll_ctl(g_epoll, EPOLL_CTL_ADD, fd, &ev) < 0) return Fail(env, "epoll");
  return Napi::Number::New(env, fd);
}

// A frame already queued is returned without sleeping; otherwise one epoll_wait.
Napi::Value Wait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Buffer<uint8_t> buf = info[1].As<Napi::Buffer<uint8_t>>();
  int timeoutMs = info[2].As<Napi::Number>().Int32Value();
  for (int attempt = 0; attempt < 2; attempt++) {
    ssize_t n = read(fd, buf.Data(), buf.Length());
    if (n >= 0) return Napi::Number::New(env, static_cast<double>(n));
    if (errno != EAGAIN && errno != EINTR) return Fail(env, "read");
    if (attempt == 1) break;
    struct epoll_event got;
    int r = epoll_wait(g_epoll, &got, 1, timeoutMs);
    if (r < 0 && errno != EINTR) return Fail(env, "epoll_wait");
    if (r <= 0) break;
  }
  return Napi::Number::New(env, 0);
}

Napi::Value Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Buffer<uint8_t> buf = info[1].As<Napi::Buffer<uint8_t>>();
  size_t len = info[2].As<Napi::Number>().Uint32Value();
  if (len > buf.Length()) len = buf.Length();
  ssize_t n = write(fd, buf.Data(), len);
  return Napi::Number::New(env, static_cast<double>(n));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("wait", Napi::Function::New(env, Wait));
  exports.Set("write", Napi::Function::New(env, Write));
  return exports;
}

}  // namespace

NODE_API_MODULE(sync_tap, Init)
