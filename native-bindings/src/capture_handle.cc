#include "capture_handle.h"

#include <errno.h>

#include "common.h"
#include "netns.h"

namespace offpath {

namespace {

constexpr uint32_t kMaxSpuriousErrors = 64;

// After a batch callback throws, the exception goes where an exception from any other event-loop callback goes:
// process 'uncaughtException'. The source has already given its frames back by then.
void RaiseIfPending(Napi::Env env) {
  if (!env.IsExceptionPending()) return;
  Napi::Error error = env.GetAndClearPendingException();
  napi_fatal_exception(env, error.Value());
}

}  // namespace

Napi::Function CaptureHandle::Define(Napi::Env env) {
  return DefineClass(env, "CaptureHandle",
                     {
                         InstanceAccessor<&CaptureHandle::Backend>("backend"),
                         InstanceAccessor<&CaptureHandle::LinkType>("linkType"),
                         InstanceAccessor<&CaptureHandle::ZeroCopy>("zeroCopy"),
                         InstanceAccessor<&CaptureHandle::Buffer>("buffer"),
                         InstanceAccessor<&CaptureHandle::Meta>("meta"),
                         InstanceMethod<&CaptureHandle::Start>("start"),
                         InstanceMethod<&CaptureHandle::Stats>("stats"),
                         InstanceMethod<&CaptureHandle::Close>("close"),
                     });
}

CaptureHandle::CaptureHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CaptureHandle>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "CaptureHandle(options) needs an options object").ThrowAsJavaScriptException();
    return;
  }
  Napi::Object o = info[0].As<Napi::Object>();
  CaptureOptions& opt = options_;
  if (!ReadString(o, "mode", &opt.mode, true) || !ReadString(o, "iface", &opt.iface, true) ||
      !ReadString(o, "filter", &opt.filter, false) || !ReadString(o, "netns", &opt.netns, false) ||
      !ReadUint(o, "snapLength", &opt.snapLength, 262144, 16, 262144) ||
      !ReadUint(o, "bufferBytes", &opt.bufferBytes, 32u << 20, 64u << 10, 1u << 30) ||
      !ReadBool(o, "promiscuous", &opt.promiscuous, true) ||
      !ReadBool(o, "ignoreOutgoing", &opt.ignoreOutgoing, false) ||
      !ReadUint(o, "batchPackets", &opt.batchPackets, 1024, 1, 65536) ||
      !ReadUint(o, "batchBytes", &opt.batchBytes, 4u << 20, 64u << 10, 256u << 20) ||
      !ReadUint(o, "tpacketVersion", &opt.tpacketVersion, 3, 2, 3) ||
      !ReadUint(o, "blockBytes", &opt.blockBytes, 256u << 10, 4096, 64u << 20) ||
      !ReadUint(o, "blockTimeoutMs", &opt.blockTimeoutMs, 1, 0, 60000) ||
      !ReadInt(o, "fanoutGroup", &opt.fanoutGroup, -1, -1, 65535)) {
    return;
  }
  if (opt.mode != "pcap" && opt.mode != "tpacket") {
    Napi::RangeError::New(env, "mode must be \"pcap\" or \"tpacket\"").ThrowAsJavaScriptException();
    return;
  }
  if (opt.iface != "any" && !ValidInterfaceName(opt.iface)) {
    ThrowCaptureError(env, problem::kNoSuchInterface, "\"" + opt.iface + "\" is not a valid interface name", ENODEV);
    return;
  }
  if (opt.mode == "pcap" && opt.fanoutGroup >= 0) {
    Napi::RangeError::New(env, "fanoutGroup needs mode \"tpacket\"").ThrowAsJavaScriptException();
    return;
  }
  if (opt.batchBytes < opt.snapLength) opt.batchBytes = opt.snapLength;

  SourceError error;
  {
    NetnsScope ns;
    std::string what;
    int err = ns.Enter(opt.netns, &what);
    if (err != 0) {
      ThrowErrno(env, what, err);
      return;
    }
    source_ = opt.mode == "pcap" ? OpenPcapSource(opt, &error) : OpenTpacketSource(opt, &error);
    if (source_ && opt.iface != "any") interfaceDrops_.Open(opt.iface);
  }
  if (!source_) {
    ThrowCaptureError(env, error.problem != nullptr ? error.problem : problem::kFailed, error.message, error.err);
    return;
  }

  capacity_ = opt.batchPackets;
  budget_ = opt.batchPackets * 4;
  Napi::ArrayBuffer metaBuffer = Napi::ArrayBuffer::New(env, static_cast<size_t>(capacity_) * kMetaWords * 4);
  meta_ = static_cast<uint32_t*>(metaBuffer.Data());
  metaView_ = Napi::Persistent(Napi::Uint32Array::New(env, static_cast<size_t>(capacity_) * kMetaWords, metaBuffer, 0));

  Napi::ArrayBuffer data;
  if (source_->ZeroCopy()) {
    SharedMapping* mapping = source_->Mapping();
    mapping->refs++;
    data = Napi::ArrayBuffer::New(
        env, mapping->addr, mapping->length, [](Napi::Env, void*, SharedMapping* hint) { hint->Release(); }, mapping);
    if (env.IsExceptionPending()) {
      mapping->refs--;
      return;
    }
  } else {
    data = Napi::ArrayBuffer::New(env, opt.batchBytes);
    source_->SetCopyBuffer(static_cast<uint8_t*>(data.Data()), data.ByteLength());
  }
  dataBuffer_ = Napi::Persistent(data);
  dataView_ = Napi::Persistent(Napi::Uint8Array::New(env, data.ByteLength(), data, 0));

  if (napi_get_uv_event_loop(env, &loop_) != napi_ok ||
      napi_add_async_cleanup_hook(env, &CaptureHandle::OnEnvCleanup, this, &cleanupHook_) != napi_ok) {
    Napi::Error::New(env, "cannot attach the capture to this thread's event loop").ThrowAsJavaScriptException();
    return;
  }
}

CaptureHandle::~CaptureHandle() {
  if (released_) return;
  // Garbage-collected without close(). A started capture is strongly referenced until closed, so no poll
  // handle can be active here; JavaScript may still hold the ring view, so its memory stays mapped until
  // that view is collected too.
  released_ = true;
  StopPolling(nullptr);
  if (cleanupHook_ != nullptr) {
    napi_remove_async_cleanup_hook(cleanupHook_);
    cleanupHook_ = nullptr;
  }
  if (source_) source_->CloseKeepingMemory();
  interfaceDrops_.Close();
}

Napi::Value CaptureHandle::Backend(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), options_.mode == "pcap" ? "native-pcap" : "native-tpacket");
}

Napi::Value CaptureHandle::LinkType(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), source_ ? source_->LinkType() : 1);
}

Napi::Value CaptureHandle::ZeroCopy(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), options_.mode == "tpacket");
}

Napi::Value CaptureHandle::Buffer(const Napi::CallbackInfo& info) {
  return dataView_.IsEmpty() ? info.Env().Null() : dataView_.Value();
}

Napi::Value CaptureHandle::Meta(const Napi::CallbackInfo& info) {
  return metaView_.IsEmpty() ? info.Env().Null() : metaView_.Value();
}

Napi::Value CaptureHandle::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) {
    Napi::Error::New(env, "the capture is closed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (started_) {
    Napi::Error::New(env, "the capture is already started").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (info.Length() < 1 || !info[0].IsFunction()) {
    Napi::TypeError::New(env, "start(onBatch, onError?) needs a batch callback").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  onBatch_ = Napi::Persistent(info[0].As<Napi::Function>());
  if (info.Length() > 1 && info[1].IsFunction()) onError_ = Napi::Persistent(info[1].As<Napi::Function>());
  if (napi_async_init(env, Value(), Napi::String::New(env, "offpath:capture"), &asyncContext_) != napi_ok) {
    asyncContext_ = nullptr;
    Napi::Error::New(env, "napi_async_init failed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!StartPolling()) {
    Napi::Error::New(env, "cannot watch the capture socket (uv_poll)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  started_ = true;
  Ref();  // the poll handle points at this object: keep it alive until close()
  return env.Undefined();
}

bool CaptureHandle::StartPolling() {
  if (poll_ == nullptr) {
    poll_ = new uv_poll_t;
    if (uv_poll_init(loop_, poll_, source_->PollFd()) != 0) {
      delete poll_;
      poll_ = nullptr;
      return false;
    }
    poll_->data = this;
  }
  return uv_poll_start(poll_, UV_READABLE, &CaptureHandle::OnPoll) == 0;
}

void CaptureHandle::StopPolling(napi_async_cleanup_hook_handle hook) {
  if (poll_ == nullptr) {
    if (hook != nullptr) napi_remove_async_cleanup_hook(hook);
    return;
  }
  uv_poll_stop(poll_);
  poll_->data = hook;
  uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* handle) {
    auto pendingHook = static_cast<napi_async_cleanup_hook_handle>(handle->data);
    delete reinterpret_cast<uv_poll_t*>(handle);
    if (pendingHook != nullptr) napi_remove_async_cleanup_hook(pendingHook);
  });
  poll_ = nullptr;
}

void CaptureHandle::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<CaptureHandle*>(handle->data);
  if (self == nullptr || self->closed_) return;
  Napi::HandleScope scope(self->Env());
  if (status < 0) {
    self->HandlePollError();
  } else {
    self->DrainReady();
  }
}

void CaptureHandle::DrainReady() {
  SourceError error;
  inDrain_ = true;
  bool ok = source_->Drain(*this, budget_, &error);
  inDrain_ = false;
  if (closeDeferred_) {
    FinishClose(true);
    return;
  }
  if (!ok) {
    if (poll_ != nullptr) uv_poll_stop(poll_);
    ReportError(error.problem != nullptr ? error.problem : problem::kFailed, error.message, true);
    return;
  }
  spuriousErrors_ = 0;
}

void CaptureHandle::HandlePollError() {
  // libuv stops a poll handle whose descriptor reports POLLERR. For a packet socket that is a pending socket
  // error, usually ENETDOWN: the interface went down. The socket keeps working once it is up again, so report
  // and keep watching.
  int err = source_->TakeSocketError();
  if (err == ENETDOWN) {
    ReportError(problem::kInterfaceDown,
                ErrnoMessage("interface " + options_.iface + " went down; capture resumes when it is back up", err),
                false);
  } else if (err != 0 || ++spuriousErrors_ > kMaxSpuriousErrors) {
    ReportError(err != 0 ? ProblemForErrno(err) : problem::kFailed,
                ErrnoMessage("capture socket on " + options_.iface, err != 0 ? err : EIO), true);
    return;
  }
  if (!closed_ && poll_ != nullptr && uv_poll_start(poll_, UV_READABLE, &CaptureHandle::OnPoll) != 0) {
    ReportError(problem::kFailed, "cannot resume watching the capture socket", true);
  }
}

void CaptureHandle::ReportError(const char* problem, const std::string& message, bool fatal) {
  if (fatal && poll_ != nullptr) uv_poll_stop(poll_);
  if (onError_.IsEmpty()) return;
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  napi_value argv[3] = {Napi::String::New(env, message), Napi::String::New(env, problem), Napi::Boolean::New(env, fatal)};
  napi_value result;
  napi_make_callback(env, asyncContext_, Value(), onError_.Value(), 3, argv, &result);
  RaiseIfPending(env);
}

bool CaptureHandle::Flush() {
  if (count_ == 0) return !closed_;
  uint32_t n = count_;
  count_ = 0;
  received_ += n;
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  napi_value argv[3] = {dataView_.Value(), metaView_.Value(), Napi::Number::New(env, n)};
  napi_value result;
  napi_make_callback(env, asyncContext_, Value(), onBatch_.Value(), 3, argv, &result);
  RaiseIfPending(env);
  return !closed_;
}

Napi::Value CaptureHandle::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[0].As<Napi::TypedArray>().ElementLength() < 3) {
    Napi::TypeError::New(env, "stats(out) needs a Float64Array of length 3").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Float64Array out = info[0].As<Napi::Float64Array>();
  if (!released_ && source_) {
    kernelDropsAtClose_ = source_->KernelDrops();
    interfaceDropsAtClose_ = interfaceDrops_.Dropped();
  }
  out[0] = static_cast<double>(received_);
  out[1] = static_cast<double>(kernelDropsAtClose_);
  out[2] = static_cast<double>(interfaceDropsAtClose_);
  return env.Undefined();
}

Napi::Value CaptureHandle::Close(const Napi::CallbackInfo& info) {
  if (closed_) return info.Env().Undefined();
  closed_ = true;
  if (inDrain_) {
    // Called from inside a batch callback: the source is still walking its ring. Stop watching now and
    // release everything once the drain unwinds (DrainReady).
    closeDeferred_ = true;
    if (poll_ != nullptr) uv_poll_stop(poll_);
    return info.Env().Undefined();
  }
  FinishClose(true);
  return info.Env().Undefined();
}

void CaptureHandle::FinishClose(bool fromJs) {
  if (released_) return;
  released_ = true;
  StopPolling(nullptr);
  if (cleanupHook_ != nullptr) {
    napi_remove_async_cleanup_hook(cleanupHook_);
    cleanupHook_ = nullptr;
  }
  if (source_) {
    kernelDropsAtClose_ = source_->KernelDrops();
    interfaceDropsAtClose_ = interfaceDrops_.Dropped();
    // Detach first: every view over the ring becomes empty, so unmapping cannot leave JavaScript a dangling
    // pointer.
    if (fromJs && source_->ZeroCopy() && !dataBuffer_.IsEmpty()) dataBuffer_.Value().Detach();
    source_->Close();
  }
  interfaceDrops_.Close();
  Napi::Env env = Env();
  if (asyncContext_ != nullptr) {
    napi_async_destroy(env, asyncContext_);
    asyncContext_ = nullptr;
  }
  onBatch_.Reset();
  onError_.Reset();
  if (started_) {
    started_ = false;
    Unref();
  }
}

void CaptureHandle::OnEnvCleanup(napi_async_cleanup_hook_handle hook, void* arg) {
  // The thread's environment is going away (worker terminated, process exiting) with the capture still open.
  // No JavaScript runs any more: release the kernel resources and let the environment finish once libuv has
  // closed the poll handle.
  auto* self = static_cast<CaptureHandle*>(arg);
  self->cleanupHook_ = nullptr;
  self->closed_ = true;
  self->StopPolling(hook);
  if (!self->released_) {
    self->released_ = true;
    if (self->source_) self->source_->Close();
    self->interfaceDrops_.Close();
  }
}

}  // namespace offpath
