// The JavaScript-facing capture object: owns a PacketSource, watches its descriptor with a uv_poll handle on the
// loop of the thread that created it, and hands packets to JavaScript one batch per call.
#pragma once

#include <napi.h>
#include <uv.h>

#include <memory>

#include "capture_options.h"
#include "capture_source.h"
#include "interface.h"

namespace offpath {

class CaptureHandle : public Napi::ObjectWrap<CaptureHandle>, public BatchSink {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit CaptureHandle(const Napi::CallbackInfo& info);
  ~CaptureHandle() override;

  bool Flush() override;

 private:
  Napi::Value Backend(const Napi::CallbackInfo& info);
  Napi::Value LinkType(const Napi::CallbackInfo& info);
  Napi::Value ZeroCopy(const Napi::CallbackInfo& info);
  Napi::Value Buffer(const Napi::CallbackInfo& info);
  Napi::Value Meta(const Napi::CallbackInfo& info);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnEnvCleanup(napi_async_cleanup_hook_handle hook, void* arg);

  void DrainReady();
  void HandlePollError();
  void ReportError(const char* problem, const std::string& message, bool fatal);
  bool StartPolling();
  // Stops and closes the poll handle; `hook` (may be null) is removed once libuv has closed it.
  void StopPolling(napi_async_cleanup_hook_handle hook);
  // Releases everything. `fromJs`: called with JavaScript on the stack (the ring view can be detached).
  void FinishClose(bool fromJs);

  CaptureOptions options_;
  std::unique_ptr<PacketSource> source_;
  InterfaceDropCounter interfaceDrops_;
  uv_loop_t* loop_ = nullptr;
  uv_poll_t* poll_ = nullptr;
  napi_async_cleanup_hook_handle cleanupHook_ = nullptr;
  napi_async_context asyncContext_ = nullptr;
  Napi::FunctionReference onBatch_;
  Napi::FunctionReference onError_;
  Napi::Reference<Napi::ArrayBuffer> dataBuffer_;
  Napi::Reference<Napi::Uint8Array> dataView_;
  Napi::Reference<Napi::Uint32Array> metaView_;
  uint32_t budget_ = 0;
  uint32_t spuriousErrors_ = 0;
  uint64_t received_ = 0;
  uint64_t kernelDropsAtClose_ = 0;
  uint64_t interfaceDropsAtClose_ = 0;
  bool started_ = false;
  bool inDrain_ = false;
  bool closed_ = false;        // close() was called (or the environment is going away)
  bool closeDeferred_ = false;  // close() came from inside a batch callback: finish once the drain unwinds
  bool released_ = false;      // resources are gone
};

}  // namespace offpath
