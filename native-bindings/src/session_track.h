// The session table's per-packet fast path (session_track.cc).
#pragma once

#include <napi.h>

namespace offpath {

// createSessionTracker(options) -> track(): a function bound to one table's typed arrays (see session_track.cc).
Napi::Value CreateSessionTracker(const Napi::CallbackInfo& info);

}  // namespace offpath
