// Adaptive polling for the links' file descriptors (see poll-spin.cc).
#pragma once

#include <uv.h>

namespace tapvs {

// A link read frames: keep the event loop from sleeping for the polling budget from now on.
void NoteRx(uv_loop_t* loop);

// A link whose readiness shows in memory (an io_uring TAP: its ring's flags) can be checked while
// polling without a system call. `ready(arg)` must be cheap and side-effect free; `serve(arg)`
// handles the link as its poll callback would (and may run JavaScript, which may remove probes).
// Per thread: a Worker's links never reach the main loop's polling.
struct SpinProbe {
  bool (*ready)(void* arg);
  void (*serve)(void* arg);
  void* arg;
};
void AddSpinProbe(SpinProbe probe);
void RemoveSpinProbe(void* arg);

}  // namespace tapvs
