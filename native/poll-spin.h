// Adaptive polling for the links' file descriptors (see poll-spin.cc).
#pragma once

#include <uv.h>

namespace tapvs {

// A link read frames: keep the event loop from sleeping for the polling budget from now on.
void NoteRx(uv_loop_t* loop);

}  // namespace tapvs
