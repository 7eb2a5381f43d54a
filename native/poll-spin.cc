// Adaptive polling: after a link delivered frames, the event loop keeps polling every fd without
// sleeping for a short budget, so the next frame of a request/response exchange (the reply on
// the other link, a few tens of microseconds later) is picked up without a wake-up from epoll.
// When the budget passes with nothing read, the loop sleeps again: an idle tapvsd costs nothing.
// NAPI's busy polling (net/core/dev.c, napi_busy_loop()) and DPDK's power-management modes
// trade a little CPU for latency the same way.
//
// How: an active uv_idle_t makes libuv poll with a zero timeout (uv_backend_timeout() is 0 while
// an idle handle runs), so each turn of the loop is epoll_wait(0) plus the due callbacks. The
// idle callback stops the handle once the budget has passed since the last frame. Mode "busy"
// never stops it (all-out polling: one core at 100%, lowest latency). Mode "off" never starts it.
//
// Links whose readiness shows in memory (io_uring TAPs: IORING_SQ_TASKRUN, the CQ's tail)
// register a SpinProbe. While polling, the idle callback checks them for up to kProbeSliceNs
// before letting the loop turn, and serves a ready one itself: a turn of the loop (and its
// epoll_wait(0)) per slice instead of one every microsecond or two, and a frame is noticed as soon
// as the kernel flags it. Other fds, timers and links without a probe still get a loop turn at
// least every slice.
//
// setPolling(mode, budgetUs) and pollingStats() are exported to JavaScript (src/link/polling.ts).

#include "poll-spin.h"

#include <napi.h>

#include <string>
#include <vector>

namespace tapvs {
namespace {

enum class Mode { Off, Adaptive, Busy };

struct Spin {
  uv_loop_t* loop = nullptr;
  uv_idle_t* idle = nullptr;  // heap: freed in its close callback
  Mode mode = Mode::Off;
  uint64_t budgetNs = 0;
  uint64_t lastRxNs = 0;
  bool active = false;
  // Counters: how often polling began, how many turns the loop polled instead of sleeping, and
  // how many of those began with frames read within the budget (the wake-ups saved).
  double started = 0;
  double turns = 0;
  double rxWhileSpinning = 0;
};

// The probes of this thread's links (the polling loop's thread reads its own).
thread_local std::vector<SpinProbe> t_probes;

// Short enough that timers and fds without a probe wait at most this long while polling.
constexpr uint64_t kProbeSliceNs = 20 * 1000;

Spin g;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Checks the probes for up to one slice (or the rest of the budget); serves the first ready one.
void CheckProbes() {
  uint64_t start = uv_hrtime();
  for (uint64_t now = start; now - start < kProbeSliceNs; now = uv_hrtime()) {
    if (g.mode == Mode::Adaptive && now - g.lastRxNs > g.budgetNs) return;
    for (size_t i = 0; i < t_probes.size(); i++) {
      if (t_probes[i].ready(t_probes[i].arg)) {
        SpinProbe p = t_probes[i];
        p.serve(p.arg);  // may change t_probes: return to the loop right after
        return;
      }
    }
    CpuRelax();
  }
}

void OnIdle(uv_idle_t* h) {
  g.turns++;
  if (!t_probes.empty()) CheckProbes();
  if (g.mode == Mode::Busy) return;
  if (uv_hrtime() - g.lastRxNs > g.budgetNs) {
    uv_idle_stop(h);
    g.active = false;
  }
}

void Ensure(uv_loop_t* loop) {
  if (g.idle != nullptr) return;
  g.loop = loop;
  g.idle = new uv_idle_t;
  uv_idle_init(loop, g.idle);
  // Polling never keeps the process alive by itself.
  uv_unref(reinterpret_cast<uv_handle_t*>(g.idle));
}

void Start() {
  if (g.active || g.idle == nullptr) return;
  g.active = true;
  g.started++;
  uv_idle_start(g.idle, OnIdle);
}

void Cleanup(void*) {
  if (g.idle == nullptr) return;
  uv_idle_stop(g.idle);
  uv_close(reinterpret_cast<uv_handle_t*>(g.idle),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_idle_t*>(h); });
  g = Spin();
}

Napi::Value SetPolling(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "setPolling(mode, budgetUs)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string mode = info[0].As<Napi::String>().Utf8Value();
  double us = info[1].As<Napi::Number>().DoubleValue();
  if (!(us >= 0 && us <= 1e6)) {
    Napi::RangeError::New(env, "setPolling: budgetUs must be 0..1000000").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  if (g.idle == nullptr) {
    Ensure(loop);
    napi_add_env_cleanup_hook(env, Cleanup, nullptr);
  }
  if (mode == "off") {
    g.mode = Mode::Off;
    if (g.active) {
      uv_idle_stop(g.idle);
      g.active = false;
    }
  } else if (mode == "adaptive") {
    g.mode = Mode::Adaptive;
  } else if (mode == "busy") {
    g.mode = Mode::Busy;
    Start();
  } else {
    Napi::RangeError::New(env, "setPolling: mode must be off, adaptive or busy").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  g.budgetNs = static_cast<uint64_t>(us * 1000);
  return env.Undefined();
}

Napi::Value PollingStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("mode", g.mode == Mode::Busy ? "busy" : g.mode == Mode::Adaptive ? "adaptive" : "off");
  o.Set("budgetUs", static_cast<double>(g.budgetNs) / 1000);
  o.Set("started", g.started);
  o.Set("turns", g.turns);
  o.Set("rxWhileSpinning", g.rxWhileSpinning);
  return o;
}

}  // namespace

void NoteRx(uv_loop_t* loop) {
  if (g.mode != Mode::Adaptive || g.loop != loop) return;
  g.lastRxNs = uv_hrtime();
  if (g.active) g.rxWhileSpinning++;
  else Start();
}

void AddSpinProbe(SpinProbe probe) {
  RemoveSpinProbe(probe.arg);
  t_probes.push_back(probe);
}

void RemoveSpinProbe(void* arg) {
  for (size_t i = 0; i < t_probes.size(); i++) {
    if (t_probes[i].arg == arg) {
      t_probes.erase(t_probes.begin() + static_cast<std::ptrdiff_t>(i));
      return;
    }
  }
}

Napi::Object RegisterPolling(Napi::Env env, Napi::Object exports) {
  exports.Set("setPolling", Napi::Function::New(env, SetPolling));
  exports.Set("pollingStats", Napi::Function::New(env, PollingStats));
  return exports;
}

}  // namespace tapvs
