// offpath_native: live capture and injection for offpath (see ../README.md). Everything is per environment, so the
// addon loads in the main thread and in any number of worker threads at once.
#include <napi.h>
#include <pcap/pcap.h>
#include <time.h>

#include "capture_handle.h"
#include "injectors.h"
#include "interface.h"

namespace {

// CLOCK_REALTIME in nanoseconds, the clock packet timestamps use: lets a caller measure wire-to-handler delay.
Napi::Value RealtimeNs(const Napi::CallbackInfo& info) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
  return Napi::BigInt::New(info.Env(), ns);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("CaptureHandle", offpath::CaptureHandle::Define(env));
  exports.Set("FrameInjectorHandle", offpath::FrameInjectorHandle::Define(env));
  exports.Set("RawIpInjectorHandle", offpath::RawIpInjectorHandle::Define(env));
  exports.Set("interfaceInfo", Napi::Function::New(env, offpath::InterfaceInfo, "interfaceInfo"));
  exports.Set("realtimeNs", Napi::Function::New(env, RealtimeNs, "realtimeNs"));
  exports.Set("libpcapVersion", Napi::String::New(env, pcap_lib_version()));
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  return exports;
}

}  // namespace

NODE_API_MODULE(offpath_native, Init)
