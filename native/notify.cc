// sd_notify(3) for tapvsd: one datagram to the AF_UNIX socket systemd names in $NOTIFY_SOCKET.
// Node has no AF_UNIX datagram sockets, so the daemon's READY=1 / RELOADING=1 / STOPPING=1 /
// STATUS= / WATCHDOG=1 messages go through this function. A path starting with '@' is an
// abstract socket name, as sd_notify() reads it (systemd src/libsystemd/sd-daemon/sd-daemon.c).
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

// sdNotify(path, message) -> 0, or the errno of the failed step.
Napi::Value SdNotify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    Napi::TypeError::New(env, "sdNotify(path, message)").ThrowAsJavaScriptException();
    return env.Null();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string msg = info[1].As<Napi::String>().Utf8Value();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) return Napi::Number::New(env, EINVAL);
  std::memcpy(addr.sun_path, path.data(), path.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract: no trailing NUL counted
  else len += 1;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Napi::Number::New(env, errno);
  ssize_t n = sendto(fd, msg.data(), msg.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), len);
  int err = n < 0 ? errno : 0;
  close(fd);
  return Napi::Number::New(env, err);
}

}  // namespace

Napi::Object RegisterNotify(Napi::Env env, Napi::Object exports) {
  exports.Set("sdNotify", Napi::Function::New(env, SdNotify));
  return exports;
}
