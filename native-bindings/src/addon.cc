// offpath_native: live capture and injection for offpath, and the session table's per-packet path (see ../README.md). Everything is per environment, so the
// addon loads in the main thread and in any number of worker threads at once.
#include <napi.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "capture_handle.h"
#include "injectors.h"
#include "interface.h"
#include "session_track.h"

namespace {

// CLOCK_REALTIME in nanoseconds, the clock packet timestamps use: lets a caller measure wire-to-handler delay.
Napi::Value RealtimeNs(const Napi::CallbackInfo& info) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
  return Napi::BigInt::New(info.Env(), ns);
}

// Scheduling policy of the calling thread (the JS thread that handles packets): "fifo" with a priority 1-99, or
// "other" (the default policy). A woken real-time thread preempts ordinary ones at once instead of waiting for
// them to yield, which is what decides the race against the first byte on a busy host. Returns "" on success,
// else the errno text.
Napi::Value SetThreadScheduling(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "setThreadScheduling(policy: 'fifo' | 'other', priority: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string policyName = info[0].As<Napi::String>().Utf8Value();
  int priority = info[1].As<Napi::Number>().Int32Value();
  int policy;
  if (policyName == "fifo") {
    policy = SCHED_FIFO;
  } else if (policyName == "other") {
    policy = SCHED_OTHER;
    priority = 0;
  } else {
    Napi::TypeError::New(env, "policy must be 'fifo' or 'other'").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  struct sched_param param;
  memset(&param, 0, sizeof param);
  param.sched_priority = priority;
  // pid 0 = the calling thread (on Linux the policy is per thread, so each worker thread sets its own).
  if (sched_setscheduler(0, policy, &param) != 0) return Napi::String::New(env, strerror(errno));
  return Napi::String::New(env, "");
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("CaptureHandle", offpath::CaptureHandle::Define(env));
  exports.Set("FrameInjectorHandle", offpath::FrameInjectorHandle::Define(env));
  exports.Set("RawIpInjectorHandle", offpath::RawIpInjectorHandle::Define(env));
  exports.Set("interfaceInfo", Napi::Function::New(env, offpath::InterfaceInfo, "interfaceInfo"));
  exports.Set("realtimeNs", Napi::Function::New(env, RealtimeNs, "realtimeNs"));
  exports.Set("setThreadScheduling", Napi::Function::New(env, SetThreadScheduling, "setThreadScheduling"));
  exports.Set("createSessionTracker", Napi::Function::New(env, offpath::CreateSessionTracker, "createSessionTracker"));
  exports.Set("libpcapVersion", Napi::String::New(env, pcap_lib_version()));
  exports.Set("abiVersion", Napi::Number::New(env, 5));
  return exports;
}

}  // namespace

NODE_API_MODULE(offpath_native, Init)
